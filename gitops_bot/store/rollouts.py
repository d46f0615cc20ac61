"""Release rollouts in SQLite: a rollout, its waves and each wave's tenants, one row each."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# A rollout in one of these is "open": it still holds the fleet, so no second one starts.
OPEN_STATES: Final = ("running", "paused", "halted", "aborting")
FINAL_STATES: Final = ("completed", "aborted")


class RolloutOpen(Exception):
    """Another rollout is not finished yet; only one may move the fleet at a time."""


@dataclass(frozen=True)
class PlannedTenant:
    """A tenant as planned into a wave: where it runs, and the release it leaves."""

    slug: str
    host: str
    plan: str
    previous_release: str | None


@dataclass(frozen=True)
class Rollout:
    id: int
    release: str
    state: str
    waves: str
    soak: float
    filters: dict[str, list[str]]
    reason: str
    created_at: float
    updated_at: float
    halted_slug: str | None
    halt_reason: str | None


@dataclass(frozen=True)
class Wave:
    rollout_id: int
    number: int
    state: str
    queued_at: float | None
    soak_until: float | None
    done_at: float | None
    size: int
    live: int
    failed: int


@dataclass(frozen=True)
class WaveTenant:
    rowid: int
    rollout_id: int
    slug: str
    wave: int
    host: str
    plan: str
    previous_release: str | None
    state: str
    event_id: str | None
    revert_event_id: str | None
    reason: str | None
    live_at: float | None
    failures_after: float | None


def create(
    db: sqlite3.Connection,
    *,
    release: str,
    waves: str,
    soak: float,
    filters: Mapping[str, Sequence[str]],
    reason: str,
    plan: Sequence[Sequence[PlannedTenant]],
    now: float,
) -> int:
    """Store a new running rollout with its planned waves; RolloutOpen if one is open."""
    try:
        cursor = db.execute(
            "INSERT INTO rollouts (release, state, waves, soak, filters, reason, created_at,"
            " updated_at) VALUES (?, 'running', ?, ?, ?, ?, ?, ?)",
            (release, waves, soak, json.dumps(dict(filters), sort_keys=True), reason, now, now),
        )
    except sqlite3.IntegrityError as taken:
        raise RolloutOpen("another rollout is still open; finish or abort it first") from taken
    rollout_id = int(cursor.lastrowid or 0)
    for number, tenants in enumerate(plan, start=1):
        db.execute(
            "INSERT INTO rollout_waves (rollout_id, number) VALUES (?, ?)", (rollout_id, number)
        )
        db.executemany(
            "INSERT INTO rollout_tenants (rollout_id, slug, wave, host, plan, previous_release)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(rollout_id, t.slug, number, t.host, t.plan, t.previous_release) for t in tenants],
        )
    return rollout_id


def _rollout(row: sqlite3.Row | None) -> Rollout | None:
    if row is None:
        return None
    values = dict(row)
    values["filters"] = json.loads(values["filters"])
    return Rollout(**values)


def get(db: sqlite3.Connection, rollout_id: int) -> Rollout | None:
    return _rollout(db.execute("SELECT * FROM rollouts WHERE id = ?", (rollout_id,)).fetchone())


def open_rollout(db: sqlite3.Connection) -> Rollout | None:
    """The one rollout not finished yet, if any."""
    marks = ", ".join("?" for _ in OPEN_STATES)
    row = db.execute(f"SELECT * FROM rollouts WHERE state IN ({marks})", OPEN_STATES).fetchone()  # noqa: S608
    return _rollout(row)


def latest(db: sqlite3.Connection) -> Rollout | None:
    """The open rollout, else the one that finished last: what operators want to see."""
    return open_rollout(db) or _rollout(
        db.execute("SELECT * FROM rollouts ORDER BY id DESC LIMIT 1").fetchone()
    )


def waves(db: sqlite3.Connection, rollout_id: int) -> list[Wave]:
    rows = db.execute(
        "SELECT w.rollout_id, w.number, w.state, w.queued_at, w.soak_until, w.done_at,"
        " count(t.slug) AS size, coalesce(sum(t.state = 'live'), 0) AS live,"
        " coalesce(sum(t.state = 'failed'), 0) AS failed"
        " FROM rollout_waves w LEFT JOIN rollout_tenants t"
        " ON t.rollout_id = w.rollout_id AND t.wave = w.number"
        " WHERE w.rollout_id = ? GROUP BY w.number ORDER BY w.number",
        (rollout_id,),
    )
    return [Wave(**dict(row)) for row in rows]


def tenants(db: sqlite3.Connection, rollout_id: int, wave: int | None = None) -> list[WaveTenant]:
    sql = "SELECT rowid, * FROM rollout_tenants WHERE rollout_id = ?"
    args: list[Any] = [rollout_id]
    if wave is not None:
        sql += " AND wave = ?"
        args.append(wave)
    return [WaveTenant(**dict(row)) for row in db.execute(sql + " ORDER BY wave, slug", args)]


def forgive_failures(db: sqlite3.Connection, rollout_id: int, now: float) -> None:
    """On resume after a halt: the wave's failed tenants are watched again, and only a
    failure from now on halts the rollout (the probe keeps trying them, so a fixed tenant
    goes live)."""
    db.execute(
        "UPDATE rollout_tenants SET state = 'queued', failures_after = ?"
        " WHERE rollout_id = ? AND state = 'failed' AND event_id IS NOT NULL",
        (now, rollout_id),
    )


def move(
    db: sqlite3.Connection,
    rollout_id: int,
    to: str,
    *,
    allowed_from: Iterable[str],
    now: float,
    halted_slug: str | None = None,
    halt_reason: str | None = None,
) -> bool:
    """Move the rollout to `to` if it is in one of `allowed_from`; False if it was not.

    Conditional, so that repeating a step after a crash changes nothing the second time.
    """
    sources = tuple(allowed_from)
    marks = ", ".join("?" for _ in sources)
    changed = db.execute(
        f"UPDATE rollouts SET state = ?, updated_at = ?, halted_slug = ?, halt_reason = ?"  # noqa: S608
        f" WHERE id = ? AND state IN ({marks})",
        (to, now, halted_slug, halt_reason, rollout_id, *sources),
    )
    return changed.rowcount > 0


def set_wave(
    db: sqlite3.Connection, rollout_id: int, number: int, state: str, **times: float | None
) -> None:
    """A wave's new state, with the moment it got there (queued_at, soak_until, done_at)."""
    columns = "".join(f", {name} = :{name}" for name in times if name in _WAVE_TIMES)
    db.execute(
        f"UPDATE rollout_waves SET state = :state{columns}"  # noqa: S608 - fixed column names
        " WHERE rollout_id = :rollout AND number = :number",
        {"state": state, "rollout": rollout_id, "number": number, **times},
    )


_WAVE_TIMES: Final = frozenset({"queued_at", "soak_until", "done_at"})


def set_tenant(
    db: sqlite3.Connection,
    rollout_id: int,
    slug: str,
    state: str,
    *,
    reason: str | None = None,
    live_at: float | None = None,
    event_id: str | None = None,
    revert_event_id: str | None = None,
) -> None:
    db.execute(
        "UPDATE rollout_tenants SET state = ?, reason = ?, live_at = coalesce(?, live_at),"
        " event_id = coalesce(?, event_id), revert_event_id = coalesce(?, revert_event_id)"
        " WHERE rollout_id = ? AND slug = ?",
        (state, reason, live_at, event_id, revert_event_id, rollout_id, slug),
    )


def status_since(
    db: sqlite3.Connection, slug: str, event_id: str, commit_sha: str
) -> tuple[str, str | None, float] | None:
    """The tenant's latest status and its reason, counting only transitions from the one
    the event made in `commit_sha` (its commit, or its review branch's); None before that.

    Found by commit, which is indexed, rather than by event id, which is not.
    """
    row = db.execute(
        "SELECT status, reason, at FROM transitions WHERE slug = ? AND id >= (SELECT min(id)"
        " FROM transitions WHERE commit_sha = ? AND slug = ? AND event_id = ?)"
        " ORDER BY id DESC LIMIT 1",
        (slug, commit_sha, slug, event_id),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1], float(row[2]))


def restarts(tenants: Iterable[PlannedTenant | WaveTenant]) -> dict[str, list[str]]:
    """Per host, the units a wave restarts: each tenant's app (nix/lib/names.nix).

    A release changes only the app's package: its socket keeps listening (connections wait
    there during the restart), and its database and route stay up, as `gitops-bot plan` shows.
    """
    units: dict[str, list[str]] = {}
    for tenant in tenants:
        units.setdefault(tenant.host, []).append(f"tenant-app@{tenant.slug}.service")
    return {host: sorted(names) for host, names in sorted(units.items())}


def summary(db: sqlite3.Connection) -> dict[str, Any] | None:
    """The rollout operators see (the open one, else the last), as plain data."""
    rollout = latest(db)
    if rollout is None:
        return None
    everyone = tenants(db, rollout.id)
    shown = []
    for wave in waves(db, rollout.id):
        mine = [t for t in everyone if t.wave == wave.number]
        shown.append(
            {
                "number": wave.number,
                "state": wave.state,
                "size": wave.size,
                "live": wave.live,
                "failed": wave.failed,
                "soakUntil": wave.soak_until,
                "restarts": restarts(mine),
                "tenants": {t.slug: {"state": t.state, "reason": t.reason} for t in mine},
            }
        )
    return {
        "id": rollout.id,
        "release": rollout.release,
        "state": rollout.state,
        "waves": shown,
        "soak": rollout.soak,
        "filters": rollout.filters,
        "haltedTenant": rollout.halted_slug,
        "haltReason": rollout.halt_reason,
        "startedAt": rollout.created_at,
    }
