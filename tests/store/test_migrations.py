"""Schema versions: old files are migrated without loss, fresh and migrated files agree."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from gitops_bot.store import errorlog, migrations
from gitops_bot.store.migrations import SchemaTooNew
from gitops_bot.store.queue import Store

FIXTURES = Path(__file__).parent / "fixtures"
# schema.sql as it was at each commit that changed it, copied from git history: the first
# one that landed (b50abfc), the parallel branches (958cfcf, 2e2ea60) and their merge.
HISTORY = sorted(FIXTURES.glob("schema-*.sql"))


def _normalised(path: Path) -> list[tuple[str, str, str]]:
    """sqlite_master without comments and layout, and each table's columns."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
            "ORDER BY type, name"
        ).fetchall()
        shape = []
        for kind, name, sql in rows:
            text = re.sub(r"--[^\n]*", "", sql or "")
            text = re.sub(r"\s+", " ", text.replace("IF NOT EXISTS ", ""))
            text = re.sub(r"\s*([(),;])\s*", r"\1", text).strip()
            shape.append((kind, name, text))
            if kind == "table":
                columns = db.execute(f"PRAGMA table_info({name})").fetchall()
                shape.append(("columns", name, repr(columns)))
        return shape
    finally:
        db.close()


def _old_database(path: Path, schema: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(schema.read_text())
        db.execute(
            "INSERT INTO events (id, type, slug, content, body_sha256, answer_status, "
            "answer_body, status, received_at) VALUES "
            "('evt_1', 'tenant.signup', 'acme', '{}', 'ab', 202, '{}', 'done', 1.5)"
        )
        db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES ('acme', 'web-1', 'pro', 1)"
        )
        db.execute("INSERT INTO domains (domain, slug, in_repo) VALUES ('acme.example', 'acme', 1)")
        db.execute(
            "INSERT INTO transitions (slug, status, at, event_id) "
            "VALUES ('acme', 'queued', 1.5, 'evt_1')"
        )
        db.execute("INSERT INTO meta (key, value) VALUES ('next_uid', '2001')")
        if "errors" in schema.read_text():
            db.execute("INSERT INTO errors (source, message, at) VALUES ('writer', 'boom', 2.0)")
    finally:
        db.close()


def _rows(path: Path, table: str, columns: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT {columns} FROM {table} ORDER BY 1").fetchall()  # noqa: S608
    finally:
        db.close()


KEPT = {
    "events": "seq, id, type, slug, content, body_sha256, answer_status, status, received_at",
    "tenants": "slug, host, plan, in_repo",
    "domains": "domain, slug, in_repo",
    "transitions": "id, slug, status, at, event_id",
    "meta": "key, value",
}


def test_the_steps_from_nothing_build_exactly_schema_sql(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite3"
    with Store(fresh) as store:
        store.migrate()
    stepped = tmp_path / "stepped.sqlite3"
    db = sqlite3.connect(stepped, isolation_level=None)
    migrations.apply_steps(db, after=0)
    db.close()
    assert _normalised(stepped) == _normalised(fresh)


def test_the_steps_are_numbered_in_order_with_a_file_each() -> None:
    assert [step.version for step in migrations.STEPS] == list(range(1, migrations.CURRENT + 1))
    for step in migrations.STEPS:
        assert step.script.startswith(f"{step.version:04d}_")
        assert step.sql().strip()


def test_the_first_step_is_the_first_schema_that_landed() -> None:
    first = (FIXTURES / "schema-b50abfc.sql").read_text()
    step = migrations.STEPS[0].sql()
    assert step.split("\n", 2)[2] == first.split("\n", 1)[1]


@pytest.mark.parametrize("schema", HISTORY, ids=lambda path: path.stem)
def test_an_unversioned_old_file_is_migrated_and_loses_nothing(
    tmp_path: Path, schema: Path
) -> None:
    old = tmp_path / "old.sqlite3"
    _old_database(old, schema)
    before = {table: _rows(old, table, columns) for table, columns in KEPT.items()}
    with Store(old) as store:
        store.migrate()
        # What failed before versions: the column schema.sql gained in place.
        errorlog.remember(store, "writer", "boom")
        assert [error.message for error in errorlog.recent(store)][:1] == ["boom"]
        assert store.tenants_per_host() == {"web-1": 1}
        assert migrations.version(store.connection) == migrations.CURRENT
    assert {table: _rows(old, table, columns) for table, columns in KEPT.items()} == before
    fresh = tmp_path / "fresh.sqlite3"
    with Store(fresh) as store:
        store.migrate()
    assert _normalised(old) == _normalised(fresh)


def test_a_versioned_file_runs_only_the_steps_after_its_version(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for step in migrations.STEPS[:3]:
        migrations.run(db, step.sql())
    db.execute("PRAGMA user_version = 3")
    db.close()
    with Store(path) as store:
        store.migrate()
        store.migrate()
        assert migrations.version(store.connection) == migrations.CURRENT
    fresh = tmp_path / "fresh.sqlite3"
    with Store(fresh) as store:
        store.migrate()
    assert _normalised(path) == _normalised(fresh)


def test_a_file_from_a_newer_gitops_bot_is_refused_naming_version_and_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "newer.sqlite3"
    with Store(path) as store:
        store.migrate()
        store.connection.execute(f"PRAGMA user_version = {migrations.CURRENT + 1}")
    with Store(path) as store, pytest.raises(SchemaTooNew) as refused:
        store.migrate()
    assert str(path) in str(refused.value)
    assert f"version {migrations.CURRENT + 1}" in str(refused.value)
    assert migrations.version(sqlite3.connect(path)) == migrations.CURRENT + 1


def test_a_failed_step_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    _old_database(old, FIXTURES / "schema-b50abfc.sql")
    db = sqlite3.connect(old, isolation_level=None)
    # A table in the way of step 2's index makes that step fail half-way.
    db.execute("CREATE TABLE outbox_open (x)")
    db.close()
    before = _normalised(old)
    with Store(old) as store, pytest.raises(sqlite3.OperationalError):
        store.migrate()
    assert _normalised(old) == before


def _migrate_at_once(path: Path, start: Barrier) -> None:
    start.wait()
    with Store(path) as store:
        store.migrate()


def test_workers_starting_together_migrate_an_old_file_once(tmp_path: Path) -> None:
    fork = multiprocessing.get_context("fork")
    path = tmp_path / "old.sqlite3"
    _old_database(path, FIXTURES / "schema-3932588.sql")
    before = {table: _rows(path, table, columns) for table, columns in KEPT.items()}
    start = fork.Barrier(4)
    workers = [fork.Process(target=_migrate_at_once, args=(path, start)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    # Without the lock, a second worker would add `repeats` again: "duplicate column".
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert {table: _rows(path, table, columns) for table, columns in KEPT.items()} == before
    assert migrations.version(sqlite3.connect(path)) == migrations.CURRENT


def test_the_tenant_list_is_filled_from_what_the_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "v8.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for step in migrations.STEPS[:8]:
        migrations.run(db, step.sql())
    db.execute("PRAGMA user_version = 8")
    db.executescript(
        """
        INSERT INTO tenants (slug, host, plan, in_repo) VALUES ('acme', 'web-1', 'pro', 1),
            ('waiting', 'web-2', 'free', 0), ('by-hand', 'web-1', 'pro', 1);
        INSERT INTO events (id, type, slug, content, body_sha256, answer_status, answer_body,
            status, received_at) VALUES ('evt_1', 'tenant.signup', 'gone', '{"plan": "free",
            "host": "web-2"}', 'ab', 202, '{}', 'failed', 1.0),
            ('evt_2', 'tenant.signup', 'broken', 'not json', 'ab', 202, '{}', 'failed', 1.0);
        INSERT INTO transitions (slug, status, at, commit_sha, url) VALUES
            ('acme', 'accepted', 1.0, NULL, NULL), ('acme', 'pr_open', 2.0, NULL, 'https://pr/1'),
            ('acme', 'merged', 3.0, 'abc1234', NULL), ('acme', 'deployed', 4.0, NULL, 'https://d/1'),
            ('waiting', 'accepted', 5.0, NULL, NULL), ('gone', 'failed', 6.0, NULL, NULL),
            ('broken', 'failed', 7.0, NULL, NULL);
        """
    )
    db.close()
    with Store(path) as store:
        store.migrate()
        rows = store.connection.execute(
            "SELECT slug, plan, host, state, recorded, since, changed_at, commit_sha, review_url,"
            " deploy_url FROM tenant_list ORDER BY slug"
        ).fetchall()
    assert [tuple(row) for row in rows] == [
        ("acme", "pro", "web-1", "deployed", 1, 1.0, 4.0, "abc1234", "https://pr/1", "https://d/1"),
        ("broken", None, None, "failed", 1, 7.0, 7.0, None, None, None),
        ("by-hand", "pro", "web-1", "on branch", 0, None, None, None, None, None),
        ("gone", "free", "web-2", "failed", 1, 6.0, 6.0, None, None, None),
        ("waiting", "free", "web-2", "accepted", 1, 5.0, 5.0, None, None, None),
    ]
