"""The queue's hot paths search an index: none reads a table whose size grows with history."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from flask import Flask

from gitops_bot.store import domainchecks, outbox
from gitops_bot.store.queue import Answer, Store
from gitops_bot.writer.writer import Writer
from helpers import STATUS_TOKEN, post_event, signup

# Tables that grow with history or with the fleet.
BIG = ("events", "transitions", "outbox", "tenants", "tenant_list", "domains", "domain_checks")
# Partial indexes hold only the open rows (the queue, unsent notifications): reading one
# in order is bounded by what waits, and a LIMIT stops it sooner.
BOUNDED = ("events_pending", "events_pending_age", "outbox_open")


def plans(db: sqlite3.Connection, action: Callable[[], object]) -> list[tuple[str, list[str]]]:
    """Each statement `action` ran on `db` (values bound in), with its query plan."""
    ran: list[str] = []
    db.set_trace_callback(ran.append)
    try:
        action()
    finally:
        db.set_trace_callback(None)
    # Triggers' statements are traced as comments; their own lookups are by primary key.
    statements = [
        sql
        for sql in ran
        if not sql.startswith("--")
        and not re.match(r"\s*(BEGIN|COMMIT|ROLLBACK|PRAGMA)\b", sql, re.IGNORECASE)
    ]
    assert statements, "the action ran no SQL"
    found = []
    for sql in statements:
        rows = db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        found.append((sql, [str(row[3]) for row in rows]))
    return found


def full_scans(found: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    scans = []
    for sql, details in found:
        for detail in details:
            match = re.match(r"SCAN (\w+)(?: AS \w+)?(?: USING (?:COVERING )?INDEX (\w+))?", detail)
            if match and match[1] in BIG and match[2] not in BOUNDED:
                scans.append((sql, detail))
    return scans


@pytest.fixture
def busy(tmp_path: Path) -> Iterator[Store]:
    """A queue with some history behind it: settled events, transitions, notifications."""
    with Store(tmp_path / "queue.sqlite", synchronous="NORMAL") as store:
        store.migrate()
        outbox.enable(store.connection, True)  # noqa: FBT003 - the switch's own argument
        for n in range(50):
            slug = f"old-{n}"
            store.record_event(
                event_id=f"evt_old_{n}",
                event_type="tenant.signup",
                body_sha256="00",
                answer=Answer(202, {}),
                status="pending",
                slug=slug,
            )
            with store.transaction() as db:
                db.execute(
                    "INSERT INTO tenants (slug, host, plan) VALUES (?, 'web-1', 'pro')", (slug,)
                )
                db.execute(
                    "INSERT INTO domains (domain, slug) VALUES (?, ?)", (f"{slug}.example", slug)
                )
            store.add_transition(slug, "accepted")
        store.mark_done(store.pending(100), "sha0", "committed")
        for n in range(50):
            for status in ("deploying", "deployed", "live"):
                store.add_transition(f"old-{n}", status)
        yield store


def test_intake_and_the_writer_search_indexes(busy: Store) -> None:
    def intake() -> None:
        assert busy.answer_for("evt_new") is None  # the replay of a known webhook-id
        assert busy.pending_count() == 0  # the queue's bound, under the write lock
        busy.record_event(
            event_id="evt_new",
            event_type="tenant.signup",
            body_sha256="00",
            answer=Answer(202, {}),
            status="pending",
            slug="new",
        )
        busy.add_transition("new", "accepted")

    def writer() -> None:
        batch = busy.pending(100)
        busy.record_attempt(batch, "sha1")
        busy.mark_done(batch, "sha1", "committed")

    def failing() -> None:
        busy.record_event(
            event_id="evt_bad",
            event_type="tenant.signup",
            body_sha256="00",
            answer=Answer(202, {}),
            status="pending",
            slug="bad",
        )
        (event,) = busy.pending(100)
        busy.mark_failed(event, "the checker said no")

    def lookups() -> None:
        assert busy.event_outcome("evt_new") is not None
        assert busy.last_status("new") == "committed"
        assert busy.transitions("old-1")
        assert busy.tenant("old-1") is not None
        assert busy.slugs_with_status("deployed", "failed") == {"bad"}
        assert len(busy.slugs_with_status("live")) == 50
        domainchecks.for_slug(busy.connection, "old-1")
        assert busy.slug_reviewed_at("https://example.invalid/pull/1") is None

    for action in (intake, writer, failing, lookups):
        assert full_scans(plans(busy.connection, action)) == []


def test_a_signup_through_intake_and_the_writer_search_indexes(
    app: Flask, writer: Writer, store: Store
) -> None:
    # The real paths, not a list of queries: whatever SQL they run is read here.
    client = app.test_client()
    assert post_event(client, signup("first")).status_code == 202
    web: sqlite3.Connection = app.extensions["gitops_bot.stores"].store.connection
    signed = signup("second", domain="shop.second.example")
    assert full_scans(plans(web, lambda: post_event(client, signed))) == []
    assert full_scans(plans(store.connection, writer.drain_once)) == []


def test_the_notifier_reads_only_open_messages(busy: Store) -> None:
    def notifier() -> None:
        with busy.transaction() as db:
            for message in outbox.due(db, time.time() + 1):
                outbox.delivered(db, message, time.time())
            outbox.next_attempt(db)

    assert full_scans(plans(busy.connection, notifier)) == []


def test_a_tenants_status_searches_indexes(app: Flask) -> None:
    client = app.test_client()
    headers = {"Authorization": f"Bearer {STATUS_TOKEN}"}
    assert client.get("/v1/tenants/nobody", headers=headers).status_code == 404
    local = app.extensions["gitops_bot.stores"]
    db: sqlite3.Connection = local.store.connection
    db.executemany(
        "INSERT INTO transitions (slug, status, at) VALUES (?, ?, 1.0)",
        [(f"s-{n}", status) for n in range(50) for status in ("accepted", "committed")],
    )

    def status() -> None:
        assert client.get("/v1/tenants/s-1", headers=headers).status_code == 200

    assert full_scans(plans(db, status)) == []


def test_a_scan_is_seen_for_what_it_is(tmp_path: Path) -> None:
    # The check itself: the GROUP BY that slugs_with_status ran before issue 17 is caught.
    with closing(sqlite3.connect(tmp_path / "q.sqlite")) as db:
        db.execute("CREATE TABLE transitions (id INTEGER PRIMARY KEY, slug TEXT, status TEXT)")
        db.execute("CREATE INDEX transitions_slug ON transitions (slug, id)")
        old = (
            "SELECT slug, status FROM transitions WHERE id IN"
            " (SELECT max(id) FROM transitions GROUP BY slug)"
        )
        assert full_scans(plans(db, lambda: db.execute(old).fetchall()))


def _steps(db: sqlite3.Connection, sql: str, *args: object) -> int:
    """SQLite virtual-machine instructions `sql` runs, triggers included."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    db.set_progress_handler(tick, 1)
    try:
        db.execute(sql, args)
    finally:
        db.set_progress_handler(None, 1)
    return count


def test_a_transition_costs_the_same_however_many_events_its_tenant_has(
    tmp_path: Path,
) -> None:
    # The tenant list's trigger once walked back through a tenant's events to its signup at
    # every transition; only a tenant's first needs it.
    with Store(tmp_path / "queue.sqlite3") as store:
        store.migrate()
        db = store.connection
        for slug, events in (("quiet", 2), ("busy", 2000)):
            rows = [
                (
                    f"{slug}-{n}",
                    slug,
                    "create" if n == 0 else "update",
                    '{"plan": "pro"}',
                    f"sha-{slug}-{n}",
                )
                for n in range(events)
            ]
            db.executemany(
                "INSERT INTO events (id, type, slug, op, content, body_sha256, answer_status,"
                " answer_body, status, received_at)"
                " VALUES (?, 'tenant.signup', ?, ?, ?, ?, 202, '{}', 'done', 0)",
                rows,
            )
            store.add_transition(slug, "accepted")
        insert = "INSERT INTO transitions (slug, status, at) VALUES (?, 'committed', 1)"
        quiet, busy = _steps(db, insert, "quiet"), _steps(db, insert, "busy")
        assert busy < 1.5 * quiet, (quiet, busy)
        plans = dict(db.execute("SELECT slug, plan FROM tenant_list").fetchall())
        assert plans == {"quiet": "pro", "busy": "pro"}
