"""The queue's store: write transactions serialise across connections, and seats stay counted."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gitops_bot.queue import Store


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
