"""The queue's store: write transactions serialise across connections, and seats stay counted."""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from gitops_bot.contract.inventory import Inventory
from gitops_bot.store.queue import QueuedEvent, Store
from gitops_bot.store.reservations import RepoTenant


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "queue.sqlite3"
    with Store(path) as store:
        store.migrate()
    return path


def _counter(store: Store) -> int:
    row = store._db.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    return 0 if row is None else int(row[0])


def test_read_modify_write_transactions_of_many_connections_lose_nothing(database: Path) -> None:
    def bump() -> None:
        with Store(database) as store:
            for _ in range(25):
                with store.transaction() as db:
                    value = _counter(store) + 1
                    db.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('counter', ?)", (value,)
                    )

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Store(database) as store:
        assert _counter(store) == 200


def test_a_waiting_writer_goes_as_soon_as_the_holder_commits(database: Path) -> None:
    events: list[str] = []
    holding, waiter_started = threading.Event(), threading.Event()

    def wait_turn() -> None:
        with Store(database) as store:
            holding.wait()
            waiter_started.set()
            with store.transaction():
                events.append("waiter")

    waiter = threading.Thread(target=wait_turn)
    waiter.start()
    with Store(database) as store, store.transaction():
        holding.set()
        waiter_started.wait()
        waiter.join(timeout=0.3)  # it must still be waiting for us
        events.append("holder")
    waiter.join(timeout=30)
    assert events == ["holder", "waiter"]


def test_a_rolled_back_transaction_releases_the_lock(database: Path) -> None:
    with Store(database) as store:
        with pytest.raises(RuntimeError), store.transaction():
            raise RuntimeError("refused")
        done = threading.Event()

        def other() -> None:
            with Store(database) as second, second.transaction():
                done.set()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=30)
        assert done.is_set()


def test_nested_transactions_join_the_outer_one(database: Path) -> None:
    with Store(database) as store:
        with store.transaction(), store.transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES ('nested', '1')")
        assert store._db.execute("SELECT value FROM meta WHERE key = 'nested'").fetchone()


def _recount(store: Store) -> dict[str, int]:
    rows = store._db.execute("SELECT host, count(*) FROM tenants GROUP BY host")
    return {str(host): int(count) for host, count in rows}


def test_seats_per_host_follow_every_change_to_the_tenants(database: Path) -> None:
    inventory = Inventory.model_validate_json(
        (Path(__file__).parents[2] / "nix/inventory.json").read_bytes()
    )
    with Store(database) as store:
        with store.transaction():
            for n in range(5):
                store.reserve(slug=f"new-{n}", host="web-1", plan="pro", domains=[])
        assert store.tenants_per_host() == {"web-1": 5} == _recount(store)
        # The branch moves one tenant, adds one and has none of the others yet.
        store.sync_repo(
            "a" * 40,
            inventory,
            [RepoTenant("new-0", "web-2", "pro", ()), RepoTenant("seeded", "web-2", "free", ())],
        )
        assert store.tenants_per_host() == {"web-1": 4, "web-2": 2} == _recount(store)
        failed = QueuedEvent(
            seq=1,
            id="msg_1",
            type="tenant.signup",
            slug="new-1",
            op="create",
            content="{}",
            delivery="direct",
            reason_given=None,
            attempt_sha=None,
            received_at=0.0,
        )
        store.mark_failed(failed, "refused")
        store.sync_repo("b" * 40, inventory, [RepoTenant("seeded", "web-2", "free", ())])
        assert store.tenants_per_host() == {"web-1": 3, "web-2": 1} == _recount(store)


def test_seats_are_recounted_when_the_queue_starts(database: Path) -> None:
    with Store(database) as store:
        with store.transaction():
            store.reserve(slug="before", host="web-1", plan="pro", domains=[])
        # A counter that drifted (files from before it existed: test_migrations.py).
        store._db.execute("UPDATE host_seats SET taken = 7")
        store.migrate()
        assert store.tenants_per_host() == {"web-1": 1}


def _open_and_migrate(path: Path, start: Barrier) -> None:
    start.wait()
    with Store(path) as store:
        store.migrate()


def test_processes_opening_a_fresh_file_at_once_all_succeed(tmp_path: Path) -> None:
    # gunicorn boots its workers together, and each one opens the file: the first
    # switch to WAL must not answer "database is locked" to the others.
    fork = multiprocessing.get_context("fork")
    for attempt in range(15):
        path = tmp_path / f"fresh-{attempt}.sqlite3"
        start = fork.Barrier(6)
        workers = [fork.Process(target=_open_and_migrate, args=(path, start)) for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0] * 6, f"attempt {attempt}"
        with Store(path) as store:
            assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_the_file_does_not_wait_for_a_writer(database: Path) -> None:
    opened = threading.Event()

    def open_store() -> None:
        with Store(database):
            opened.set()

    with Store(database) as holder, holder.transaction():
        thread = threading.Thread(target=open_store)
        thread.start()
        assert opened.wait(timeout=30)
    thread.join()


def test_branch_commits_are_each_tenants_latest_landing(database: Path) -> None:
    with Store(database) as store:
        with store.transaction():
            store.add_transition("a", "committed", commit_sha="1" * 40)
            store.add_transition("a", "deployed", commit_sha="9" * 40)
            store.add_transition("a", "pr_open")
            store.add_transition("a", "merged", commit_sha="2" * 40)
            store.add_transition("b", "accepted")
            for i in range(600):  # more than one statement's worth of parameters
                store.add_transition(f"t{i}", "committed", commit_sha=f"{i:040x}")
        found = store.branch_commits(["a", "b", "nobody", *(f"t{i}" for i in range(600))])
    assert found["a"] == "2" * 40
    assert "b" not in found
    assert "nobody" not in found
    assert found["t599"] == f"{599:040x}"
    assert len(found) == 601
