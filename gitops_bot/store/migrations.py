"""The schema's versions: PRAGMA user_version, and the ordered steps from one to the next."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


class SchemaTooNew(Exception):
    """The file was written by a newer gitops-bot than this one."""


def _has(kind: str, name: str) -> Callable[[sqlite3.Connection], bool]:
    """Whether the file has the table, index or trigger `name` (a step that added it)."""

    def present(db: sqlite3.Connection) -> bool:
        row = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)
        ).fetchone()
        return row is not None

    return present


def _has_table(name: str) -> Callable[[sqlite3.Connection], bool]:
    return _has("table", name)


def _has_index(name: str) -> Callable[[sqlite3.Connection], bool]:
    return _has("index", name)


def _trigger_without(name: str, text: str) -> Callable[[sqlite3.Connection], bool]:
    """Whether trigger `name` exists and no longer contains `text` (a step that rewrote it)."""

    def present(db: sqlite3.Connection) -> bool:
        row = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)
        ).fetchone()
        return row is not None and text not in row[0]

    return present


def _has_column(table: str, column: str) -> Callable[[sqlite3.Connection], bool]:
    def present(db: sqlite3.Connection) -> bool:
        return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))

    return present


@dataclass(frozen=True)
class Step:
    """Version `version` is the one before plus `script`; `present` tells an unversioned
    file that already has it (the early schema.sql only ever added, on parallel branches)."""

    version: int
    script: str
    present: Callable[[sqlite3.Connection], bool]

    def sql(self) -> str:
        return files("gitops_bot.store").joinpath("migrations", self.script).read_text()


# Every change to schema.sql from now on is a new step here, never an edit of an old one.
STEPS = (
    Step(1, "0001_initial.sql", _has_table("events")),
    Step(2, "0002_metrics_errors_outbox.sql", _has_table("outbox")),
    Step(3, "0003_github_deliveries.sql", _has_table("deliveries")),
    Step(4, "0004_error_repeats.sql", _has_column("errors", "repeats")),
    Step(5, "0005_host_seats.sql", _has_table("host_seats")),
    Step(6, "0006_login_failures.sql", _has_table("login_failures")),
    Step(7, "0007_ended_sessions.sql", _has_table("ended_sessions")),
    Step(8, "0008_domain_checks.sql", _has_table("domain_checks")),
    Step(9, "0009_tenant_release.sql", _has_column("tenants", "release")),
    Step(10, "0010_tenant_list.sql", _has_table("tenant_list")),
    Step(11, "0011_signup_timeline.sql", _has_index("transitions_live")),
    Step(12, "0012_rollouts.sql", _has_table("rollouts")),
    Step(13, "0013_running_totals.sql", _has_index("events_pending_age")),
    Step(
        14,
        "0014_tenant_list_signup_once.sql",
        _trigger_without("tenant_list_transition", "AS signup"),
    ),
)
CURRENT = STEPS[-1].version

# Seats per host, and the tenant list's counts, are kept by triggers; a recount at every
# start corrects any drift.
_RECOUNT = """
DELETE FROM host_seats;
INSERT INTO host_seats (host, taken) SELECT host, count(*) FROM tenants GROUP BY host;
DELETE FROM tenant_list_counts;
INSERT INTO tenant_list_counts (field, value, tenants)
    SELECT 'state', state, count(*) FROM tenant_list GROUP BY state
    UNION ALL SELECT 'plan', coalesce(plan, ''), count(*) FROM tenant_list GROUP BY plan
    UNION ALL SELECT 'host', coalesce(host, ''), count(*) FROM tenant_list GROUP BY host;
"""


def statements(script: str) -> Iterator[str]:
    """One statement at a time, since executescript would commit the caller's transaction."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def run(db: sqlite3.Connection, script: str) -> None:
    for statement in statements(script):
        db.execute(statement)


def version(db: sqlite3.Connection) -> int:
    (found,) = db.execute("PRAGMA user_version").fetchone()
    return int(found)


def upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to CURRENT, inside the caller's write transaction."""
    found = version(db)
    if found > CURRENT:
        raise SchemaTooNew(
            f"{path}: the queue's schema is version {found}, newer than the {CURRENT} this "
            "gitops-bot knows; run the newer gitops-bot, or restore the backup taken "
            "before the upgrade (docs/operations.md, Upgrading)"
        )
    if found == 0 and not db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
        run(db, files("gitops_bot.store").joinpath("schema.sql").read_text())
    else:
        apply_steps(db, after=found)
    run(db, _RECOUNT)
    # Not a bound parameter: PRAGMA takes none, and CURRENT is this module's own integer.
    db.execute(f"PRAGMA user_version = {CURRENT:d}")


def apply_steps(db: sqlite3.Connection, *, after: int) -> None:
    """The steps after version `after`; from 0 (a file that predates versions) each one
    is checked for first, since a file may hold some steps and not the ones before."""
    for step in STEPS:
        if step.version <= after or (after == 0 and step.present(db)):
            continue
        run(db, step.sql())
