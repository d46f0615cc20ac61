"""The rollout tables: one open rollout at most, enforced by SQLite; conditional moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.store import rollouts
from gitops_bot.store.queue import Store
from gitops_bot.store.rollouts import PlannedTenant


def create(store: Store, release: str = "2026.12") -> int:
    with store.transaction() as db:
        return rollouts.create(
            db,
            release=release,
            waves="1,100%",
            soak=60,
            filters={"hosts": ["web-1"]},
            reason="test",
            plan=[
                [PlannedTenant("aaa", "web-1", "pro", None)],
                [PlannedTenant("bbb", "web-1", "pro", "2026.11")],
            ],
            now=1.0,
        )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "queue.sqlite3")
    opened.migrate()
    return opened


def test_only_one_rollout_is_open_at_a_time_even_past_the_code(store: Store) -> None:
    first = create(store)
    with pytest.raises(rollouts.RolloutOpen):
        create(store, "2027.01")
    # SQLite itself refuses: a process that skipped every check would be stopped too.
    with pytest.raises(Exception, match="UNIQUE"):
        store.connection.execute(
            "INSERT INTO rollouts (release, state, waves, soak, filters, reason, created_at,"
            " updated_at) VALUES ('x', 'paused', '1', 0, '{}', '', 0, 0)"
        )
    assert rollouts.move(store.connection, first, "completed", allowed_from=("running",), now=2)
    assert create(store, "2027.01") == first + 1


def test_a_move_happens_once_from_the_state_it_names(store: Store) -> None:
    rollout_id = create(store)
    db = store.connection
    assert rollouts.move(db, rollout_id, "paused", allowed_from=("running",), now=2)
    assert not rollouts.move(db, rollout_id, "paused", allowed_from=("running",), now=3)
    assert rollouts.get(db, rollout_id).updated_at == 2  # type: ignore[union-attr]


def test_the_summary_shows_waves_tenants_and_the_plan(store: Store) -> None:
    rollout_id = create(store)
    summary = rollouts.summary(store.connection)
    assert summary is not None
    assert summary["id"] == rollout_id
    assert summary["filters"] == {"hosts": ["web-1"]}
    assert [(w["number"], w["state"], w["size"]) for w in summary["waves"]] == [
        (1, "pending", 1),
        (2, "pending", 1),
    ]
    assert summary["waves"][1]["restarts"] == {"web-1": ["tenant-app@bbb.service"]}
    assert rollouts.tenants(store.connection, rollout_id, 2)[0].previous_release == "2026.11"
