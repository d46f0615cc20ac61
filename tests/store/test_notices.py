"""Standing notices for the operator: one per name, the last text kept, none from other keys."""

from __future__ import annotations

from pathlib import Path

from gitops_bot.store import notices
from gitops_bot.store.queue import Store


def test_one_notice_per_name_and_nothing_else_from_meta(tmp_path: Path) -> None:
    with Store(tmp_path / "queue.sqlite3") as store:
        store.migrate()
        with store.transaction():
            notices.post(store.connection, "recovery", "first")
            notices.post(store.connection, "recovery", "second")
            notices.post(store.connection, "another", "other")
            store.connection.execute("INSERT INTO meta (key, value) VALUES ('notice;x', 'no')")
        assert notices.current(store.connection) == ["other", "second"]
