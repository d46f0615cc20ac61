"""/metrics from running totals: the same numbers the scans of history gave, live and migrated."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitops_bot.operator.metrics import LATENCY_BUCKETS, StoreCollector
from gitops_bot.store import migrations, outbox
from gitops_bot.store.queue import Answer, EventStatus, Store

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# The schema version just before the running totals' migration.
BEFORE = next(s.version for s in migrations.STEPS if s.script.endswith("_running_totals.sql")) - 1
# Series the scans never had: compared with a scan of their own below.
NEW_SERIES = ("gitops_bot_tenants_by_status",)


def collected(database: Path) -> Samples:
    """What GET /metrics answers, read the way Prometheus reads it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(database))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def scanned(database: Path) -> Samples:
    """The queries /metrics ran over the whole history before issue 17, as samples."""
    samples: Samples = {}
    with closing(sqlite3.connect(database)) as db:
        for event_type, count in db.execute(
            "SELECT type, count(*) FROM events WHERE status != 'rejected' GROUP BY 1"
        ):
            samples["gitops_bot_intake_accepted_total", (("type", event_type),)] = count
        (depth,) = db.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()
        samples["gitops_bot_queue_depth", ()] = depth
        delay = "(finished_at - received_at)"
        per_bucket = ", ".join(f"coalesce(sum({delay} <= ?), 0)" for _ in LATENCY_BUCKETS)
        count, total, *cumulative = db.execute(
            f"SELECT count(*), coalesce(sum({delay}), 0), {per_bucket}"  # noqa: S608 - no input
            " FROM events WHERE status = 'done' AND finished_at IS NOT NULL",
            LATENCY_BUCKETS,
        ).fetchone()
        name = "gitops_bot_accept_to_commit_seconds"
        for le, n in zip(LATENCY_BUCKETS, cumulative, strict=True):
            samples[f"{name}_bucket", (("le", str(le)),)] = n
        samples[f"{name}_bucket", (("le", "+Inf"),)] = count
        samples[f"{name}_count", ()] = count
        samples[f"{name}_sum", ()] = total
        for status, n in db.execute("SELECT status, count(*) FROM transitions GROUP BY 1"):
            samples["gitops_bot_transitions_total", (("status", status),)] = n
        row = db.execute(
            "SELECT coalesce(sum(status = 'deploying'), 0), coalesce(sum(status = 'deployed'), 0),"
            " coalesce(sum(status = 'live'), 0),"
            " coalesce(sum(status = 'failed' AND before = 'deploying'), 0) FROM"
            " (SELECT status, lag(status) OVER (PARTITION BY slug ORDER BY id) AS before"
            "  FROM transitions)"
        ).fetchone()
        for outcome, n in zip(("started", "deployed", "live", "failed"), row, strict=True):
            samples["gitops_bot_deploys_total", (("outcome", outcome),)] = n
        for host, n in db.execute("SELECT host, count(*) FROM tenants GROUP BY host"):
            samples["gitops_bot_host_tenants", (("host", host),)] = n
        states = db.execute(
            "SELECT coalesce(sum(delivered_at IS NULL AND given_up_at IS NULL), 0),"
            " coalesce(sum(delivered_at IS NOT NULL), 0),"
            " coalesce(sum(given_up_at IS NOT NULL), 0) FROM outbox"
        ).fetchone()
        for state, n in zip(("pending", "delivered", "failed"), states, strict=True):
            samples["gitops_bot_notifications", (("state", state),)] = n
    return samples


def latest_statuses(database: Path) -> Samples:
    """Tenants per latest status, by a scan of every transition."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT status, count(*) FROM transitions WHERE id IN"
            " (SELECT max(id) FROM transitions GROUP BY slug) GROUP BY status"
        )
        return {("gitops_bot_tenants_by_status", (("status", s),)): n for s, n in rows}


def comparable(samples: Samples, scans: Samples) -> Samples:
    """The series of the metrics the scans computed: the others (the timeline's histograms,
    say) have totals of their own, tested beside them."""
    return {key: value for key, value in samples.items() if key[0] in {k[0] for k in scans}}


def assert_same(totals: Samples, scans: Samples) -> None:
    # Sums are added in another order than a scan adds them: equal up to rounding.
    assert totals.keys() >= scans.keys()
    for key, value in scans.items():
        assert totals[key] == pytest.approx(value), key


def old_file(path: Path, version: int) -> None:
    """A queue file at schema `version`, as the gitops-bot of that version left it."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN")
        for step in migrations.STEPS:
            if step.version <= version:
                migrations.run(db, step.sql())
        db.execute(f"PRAGMA user_version = {version:d}")
        db.execute("COMMIT")


# Each round's tenants, down every path; the last is refused at intake.
PATHS = (
    ("committed", "deploying", "deployed", "live"),
    ("committed", "deploying", "failed", "deploying", "deployed"),
    ("pr_open", "merged", "deploying", "failed"),
    ("failed",),
    (),
)
DELAYS = (0.05, 0.2, 0.7, 3.0, 45.0, 4000.0)


def make_history(store: Store, rounds: range) -> None:
    """Events in every state, settled after various delays, tenants down every path, and
    notifications delivered, retried and given up on: through the queue's own methods."""
    outbox.enable(store.connection, True)  # noqa: FBT003 - the switch's own argument
    for n in rounds:
        _arrive(store, n)
        _settle(store, n)
        for i, path in enumerate(PATHS):
            for status in path[1:] if path and path[0] == "committed" else path:
                store.add_transition(f"t{n}-{i}", status)
        _notify(store)
        with store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO tenants (slug, host, plan) VALUES (?, ?, 'pro')",
                (f"t{n}-0", f"web-{n % 2 + 1}"),
            )


def _arrive(store: Store, n: int) -> None:
    for i in range(len(PATHS)):
        slug = f"t{n}-{i}"
        status: EventStatus = "rejected" if i == len(PATHS) - 1 else "pending"
        store.record_event(
            event_id=f"evt_{n}_{i}",
            event_type="tenant.signup" if i % 2 == 0 else "tenant.update",
            body_sha256="00",
            answer=Answer(202 if status == "pending" else 409, {"error": "taken"}),
            status=status,
            slug=slug,
        )
        store.add_transition(slug, "accepted" if status == "pending" else "rejected")


def _settle(store: Store, n: int) -> None:
    # Age the queued events, each by its own delay, so they land in different buckets.
    with store.transaction() as db:
        for k, event in enumerate(store.pending(100)):
            delay = DELAYS[(n + k) % len(DELAYS)]
            db.execute(
                "UPDATE events SET received_at = ? WHERE id = ?", (time.time() - delay, event.id)
            )
    queued = store.pending(100)
    if n % 3 != 2:  # some rounds stay queued
        store.mark_done([e for e in queued if not e.slug.endswith("-3")], f"sha{n}", "committed")
    for event in queued:
        if event.slug.endswith("-3"):
            store.mark_failed(event, "the checker said no")


def _notify(store: Store) -> None:
    for k, message in enumerate(outbox.due(store.connection, time.time() + 1)):
        with store.transaction() as db:
            if k % 3 == 0:
                outbox.delivered(db, message, time.time())
            else:
                retry_at = None if k % 3 == 1 else time.time() + 60
                outbox.failed(db, message, "502", retry_at=retry_at, now=time.time())


def test_totals_kept_live_equal_the_scans_of_history(tmp_path: Path) -> None:
    database = tmp_path / "queue.sqlite"
    with Store(database, synchronous="NORMAL") as store:
        store.migrate()
        make_history(store, range(6))
        assert store.pending_count() == scanned(database)["gitops_bot_queue_depth", ()] > 0
    totals = collected(database)
    assert_same(totals, scanned(database))
    assert {k: v for k, v in totals.items() if k[0] in NEW_SERIES} == latest_statuses(database)
    # Every bucket and every deploy outcome was reached, so none is compared at zero only.
    assert totals["gitops_bot_accept_to_commit_seconds_bucket", (("le", "0.1"),)] > 0
    assert (
        totals["gitops_bot_accept_to_commit_seconds_bucket", (("le", "1800.0"),)]
        < (totals["gitops_bot_accept_to_commit_seconds_count", ()])
    )
    assert totals["gitops_bot_deploys_total", (("outcome", "failed"),)] > 0
    assert totals["gitops_bot_notifications", (("state", "failed"),)] > 0


def test_a_migrated_file_reports_what_it_reported_before(tmp_path: Path) -> None:
    database = tmp_path / "queue.sqlite"
    old_file(database, version=BEFORE)
    with Store(database, synchronous="NORMAL") as store:
        make_history(store, range(6))
    before = scanned(database)
    with Store(database, synchronous="NORMAL") as store:
        store.migrate()
        assert migrations.version(store.connection) == migrations.CURRENT
    after = collected(database)
    assert comparable(after, before).keys() == before.keys()
    assert_same(after, before)
    assert {k: v for k, v in after.items() if k[0] in NEW_SERIES} == latest_statuses(database)
    # And from here on the triggers keep them: one more round, still equal to the scans.
    with Store(database, synchronous="NORMAL") as store:
        make_history(store, range(6, 8))
        assert store.slugs_with_status("live") == {f"t{n}-0" for n in range(8)}
    assert_same(collected(database), scanned(database))
