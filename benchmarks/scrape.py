"""Benchmark 8: a /metrics scrape and GET /v1/tenants/<slug> at 1,000 and 1,000,000 events.

Run: python benchmarks/scrape.py [--runs 50] [--sizes 1000,1000000]
For each size, a queue file of the schema version before the running totals is filled
with bulk SQL: that many events, three transitions and a notification per event, for the
same fleet of 1,000 tenants (only history grows). The app's start migrates it, which
back-fills the totals (timed). Then, in-process through Flask's test client, GET /metrics
and GET /v1/tenants/<slug> of a tenant with five transitions, each after one warm-up.
Baseline: the same requests at the smallest size. For scale, the scans /metrics ran
before the totals, timed on the same file.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from common import (
    ADMIN_TOKEN,
    SECRET,
    STATUS_TOKEN,
    Goal,
    Section,
    Stat,
    ratio,
    scratch,
    sized_main,
    stat,
    table,
)

if TYPE_CHECKING:
    from flask.testing import FlaskClient

FLEET = 1_000
# Within this factor of the smallest size counts as "the same cost" (issue 17).
SAME = 2.0
PROBED = "probed"

_EVENTS = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :events - 1)
INSERT INTO events (id, type, slug, op, body_sha256, answer_status, answer_body, status,
    reason, commit_sha, received_at, finished_at)
SELECT 'evt_' || i, CASE WHEN i < :fleet THEN 'tenant.signup' ELSE 'tenant.update' END,
    't' || (i % :fleet), CASE WHEN i < :fleet THEN 'create' ELSE 'update' END, '00', 202, '{}',
    CASE WHEN i % 97 = 0 THEN 'rejected' WHEN i % 89 = 0 THEN 'failed'
        WHEN i >= :events - 10 THEN 'pending' ELSE 'done' END,
    NULL, 'sha' || (i / 20), :t0 + i, CASE WHEN i >= :events - 10 THEN NULL
        ELSE :t0 + i + (i % 50) / 10.0 END
FROM n
"""
_TRANSITIONS = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :events - 1)
INSERT INTO transitions (slug, status, at, event_id, commit_sha)
SELECT 't' || (i % :fleet), CASE WHEN s.k = 2 AND i % 10 = 0 THEN 'failed' ELSE s.status END,
    :t0 + i + s.k, 'evt_' || i, 'sha' || (i / 20)
FROM n, (SELECT 0 AS k, 'committed' AS status UNION ALL SELECT 1, 'deploying'
    UNION ALL SELECT 2, 'deployed') AS s
ORDER BY i, s.k
"""
_OUTBOX = """
INSERT INTO outbox (transition_id, id, slug, body, created_at, next_attempt_at, delivered_at,
    given_up_at)
SELECT id, 'tst_' || id, slug, '{}', at, at, CASE WHEN id / 3 % 3 = 0 THEN at END,
    CASE WHEN id / 3 % 3 = 1 THEN at END
FROM transitions WHERE id % 3 = 0
"""
# What /metrics read at every scrape before the running totals (issue 17).
OLD_SCANS = (
    "SELECT type, count(*) FROM events WHERE status != 'rejected' GROUP BY 1",
    "SELECT count(*), min(received_at) FROM events WHERE status = 'pending'",
    (
        "SELECT count(*), sum(finished_at - received_at), sum(finished_at - received_at <= 1.0)"
        " FROM events WHERE status = 'done' AND finished_at IS NOT NULL"
    ),
    "SELECT status, count(*) FROM transitions GROUP BY 1",
    (
        "SELECT sum(status = 'failed' AND before = 'deploying') FROM (SELECT status,"
        " lag(status) OVER (PARTITION BY slug ORDER BY id) AS before FROM transitions)"
    ),
    (
        "SELECT sum(delivered_at IS NULL AND given_up_at IS NULL), sum(delivered_at IS NOT NULL),"
        " sum(given_up_at IS NOT NULL) FROM outbox"
    ),
)


def build(database: Path, events: int) -> None:
    """A queue file from before the running totals, with `events` events of history, by bulk SQL."""
    from gitops_bot.store import migrations  # noqa: PLC0415 - after sys.path is set

    # The version before the running totals: what an upgraded file looks like.
    before = next(s.version for s in migrations.STEPS if s.script.endswith("_running_totals.sql"))
    before -= 1
    database.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN")
        for step in migrations.STEPS:
            # The tenant list's trigger as step 14 rewrote it, which the upgrade applies
            # again (it is idempotent): the old one walked every tenant's events at each of
            # the bulk insert's transitions, and a million events ran for over half an hour.
            if step.version <= before or step.script.endswith("_signup_once.sql"):
                migrations.run(db, step.sql())
        db.execute(f"PRAGMA user_version = {before:d}")
        values = {"events": events, "fleet": FLEET, "t0": time.time() - events - 3600}
        db.execute(_EVENTS, values)
        db.execute(_TRANSITIONS, values)
        db.execute(_OUTBOX)
        db.executemany(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, 'pro', 1)",
            [(f"t{i}", f"web-{i % 2 + 1}") for i in range(FLEET)],
        )
        for k, status in enumerate(("accepted", "committed", "deploying", "deployed", "live")):
            db.execute(
                "INSERT INTO transitions (slug, status, at) VALUES (?, ?, ?)",
                (PROBED, status, time.time() + k),
            )
        db.execute("COMMIT")


def timed(action: Callable[[], object], runs: int) -> Stat:
    action()  # warm the page cache and the app's connections
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return stat(samples)


def get(client: FlaskClient, path: str, token: str) -> Callable[[], None]:
    def run() -> None:
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}")

    return run


def old_scans(database: Path) -> None:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        for sql in OLD_SCANS:
            db.execute(sql).fetchall()


def measure_size(root: Path, events: int, runs: int) -> dict[str, Stat]:
    from gitops_bot.config import Settings  # noqa: PLC0415 - after sys.path is set
    from gitops_bot.server.app import create_app  # noqa: PLC0415

    settings = Settings(
        state_dir=root / "var",
        seed_dir=root / "seed",
        webhook_secret=SECRET,
        status_token=STATUS_TOKEN,
        admin_token=ADMIN_TOKEN,
        synchronous="NORMAL",
    )
    started = time.perf_counter()
    build(settings.database_path, events)
    built = time.perf_counter() - started
    started = time.perf_counter()
    client = create_app(settings).test_client()  # migrates: the back-fill
    migrated = time.perf_counter() - started
    return {
        "build": stat([built]),
        "migrate": stat([migrated]),
        "metrics": timed(get(client, "/metrics", ADMIN_TOKEN), runs),
        "status": timed(get(client, f"/v1/tenants/{PROBED}", STATUS_TOKEN), runs),
        # Seconds each at a million events: a couple of runs tell enough.
        "scans": timed(lambda: old_scans(settings.database_path), min(2, runs)),
    }


def measure(*, runs: int = 50, sizes: tuple[int, ...] = (1_000, 1_000_000)) -> Section:
    started = time.monotonic()
    figures = {}
    for size in sizes:
        with scratch("scrape") as root:
            figures[size] = measure_size(root, size, runs)
    smallest = min(sizes)
    base = figures[smallest]
    rows = [
        [
            f"{size:,}",
            f"{size * 3:,}",
            figures[size]["metrics"].show(2, 1000),
            ratio(figures[size]["metrics"].median, base["metrics"].median),
            figures[size]["status"].show(2, 1000),
            ratio(figures[size]["status"].median, base["status"].median),
            figures[size]["scans"].show(1, 1000),
            f"{figures[size]['migrate'].median:.1f}",
        ]
        for size in sizes
    ]
    section = Section(
        title="13. /metrics and a tenant's status as history grows",
        method=(
            "Queue files of the schema version before the running totals "
            "filled by bulk SQL with that many events, three transitions each and a "
            f"notification for every third transition, all for the same {FLEET:,} tenants: "
            "only history grows. The app's start migrates the file, which back-fills the "
            "running totals (timed: the upgrade's cost). Then, in-process through Flask's "
            f"test client, {runs} runs after one warm-up: `GET /metrics`, and `GET "
            "/v1/tenants/<slug>` of a tenant with five transitions. Baseline: the same "
            f"requests at {smallest:,} events. For scale: the scans `/metrics` ran at every "
            "scrape before the totals, on the same file."
        ),
    )
    section.tables.append(
        table(
            [
                "events",
                "transitions",
                "/metrics (ms)",
                "ratio",
                "tenant status (ms)",
                "ratio",
                "old scans (ms)",
                "migration (s)",
            ],
            rows,
        )
    )
    biggest = max(sizes)
    if biggest > smallest:
        for key, what in (("metrics", "/metrics"), ("status", "GET /v1/tenants/<slug>")):
            growth = figures[biggest][key].median / base[key].median
            section.goals.append(
                Goal(
                    f"{what} at {biggest:,} events within {SAME:.0f}× its time at {smallest:,}",
                    growth <= SAME,
                    f"{growth:.2f}×",
                )
            )
    section.notes.append(
        "A scrape reads a few rows of `counters` (kept by triggers in the transaction of "
        "each row they count), the first entry of the pending events' index and the seats "
        "per host; a tenant's status reads its own transitions and domain checks by index. "
        "The one pass over history left is the migration's back-fill, once, at the upgrade "
        "(the last column): it runs the same scans as the old scrape did, once each."
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    return sized_main(measure, __doc__ or "", runs=50, sizes="1000,1000000")


if __name__ == "__main__":
    sys.exit(main())
