"""Custom domains awaiting DNS proof of ownership: when to look next, and what was seen."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Final, Literal

from gitops_bot.contract.tenant import VERIFICATION_PREFIX, verification_txt

CheckState = Literal["pending", "verified", "expired"]


@dataclass(frozen=True)
class DomainCheck:
    domain: str
    slug: str
    cname_target: str
    state: CheckState
    attempts: int
    requested_at: float
    next_at: float
    last_error: str | None

    def record(self) -> dict[str, str]:
        """The DNS record the customer must create (either one), as the API shows it."""
        return {
            "txtName": f"{VERIFICATION_PREFIX}{self.domain}",
            "txtValue": verification_txt(self.slug),
            "cnameName": self.domain,
            "cnameTarget": self.cname_target,
        }

    def as_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "state": self.state,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "record": self.record(),
        }


_SELECT: Final = (
    "SELECT domain, slug, cname_target, state, attempts, requested_at, next_at, last_error"
    " FROM domain_checks"
)


def _check(row: tuple[Any, ...]) -> DomainCheck:
    # The columns are in the dataclass's order, and the table holds nothing else.
    return DomainCheck(*row)


def track(
    db: sqlite3.Connection,
    *,
    slug: str,
    domain: str,
    cname_target: str,
    now: float,
    first_delay: float,
    renew: bool = True,
    still_pending: bool = False,
) -> None:
    """Start checking `domain` for `slug`, unless that check runs or succeeded already.

    A domain requested again by the same tenant keeps its clock (a repeated update must not
    extend the time limit), unless its check expired and `renew` says the customer asked
    again; one that passes to another tenant starts afresh. `still_pending`: the branch
    holds it as pending, so a check that says verified is stale (the domain was removed and
    asked for again, or its move was refused) and starts again.
    """
    expired = "expired" if renew else ""
    verified = "verified" if still_pending else ""
    db.execute(
        "INSERT INTO domain_checks (domain, slug, cname_target, state, attempts, requested_at,"
        " next_at, last_error) VALUES (?, ?, ?, 'pending', 0, ?, ?, NULL)"
        " ON CONFLICT (domain) DO UPDATE SET slug = excluded.slug,"
        " cname_target = excluded.cname_target, state = 'pending', attempts = 0,"
        " requested_at = excluded.requested_at, next_at = excluded.next_at, last_error = NULL"
        " WHERE domain_checks.slug != excluded.slug OR domain_checks.state IN (?, ?)",
        (domain, slug, cname_target, now, now + first_delay, expired, verified),
    )


def due(db: sqlite3.Connection, now: float, limit: int = 50) -> list[DomainCheck]:
    rows = db.execute(
        _SELECT + " WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?",
        (now, limit),
    )
    return [_check(row) for row in rows]


def next_due(db: sqlite3.Connection) -> float | None:
    row = db.execute("SELECT min(next_at) FROM domain_checks WHERE state = 'pending'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def for_slug(db: sqlite3.Connection, slug: str) -> list[DomainCheck]:
    rows = db.execute(_SELECT + " WHERE slug = ? ORDER BY domain", (slug,))
    return [_check(row) for row in rows]


def everything(db: sqlite3.Connection, limit: int = 200) -> list[DomainCheck]:
    """For the operator: the checks still running or given up first, then the newest."""
    rows = db.execute(_SELECT + " ORDER BY state = 'verified', requested_at DESC LIMIT ?", (limit,))
    return [_check(row) for row in rows]


def settle(
    db: sqlite3.Connection,
    domain: str,
    *,
    state: CheckState,
    attempts: int,
    next_at: float,
    error: str | None,
) -> None:
    db.execute(
        "UPDATE domain_checks SET state = ?, attempts = ?, next_at = ?, last_error = ?"
        " WHERE domain = ?",
        (state, attempts, next_at, error, domain),
    )
