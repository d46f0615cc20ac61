"""The stage histograms: added with the transition that ends a stage; back-filled on upgrade."""

from __future__ import annotations

import math
import sqlite3
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.contract.lifecycle import STATUSES
from gitops_bot.store import migrations, stagetimes
from gitops_bot.store.queue import Store

# The step that brought the histograms: later steps run after it, whatever their number.
TIMELINE_STEP = next(
    step.version for step in migrations.STEPS if step.script.endswith("_signup_timeline.sql")
)


def at(store: Store, slug: str, status: str, when: float) -> None:
    """A transition at a chosen time, recorded the way add_transition records it."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO transitions (slug, status, at) VALUES (?, ?, ?)", (slug, status, when)
        )
        stagetimes.record(db, slug, status)


def buckets(store: Store, name: str, label: str | None = None) -> dict[str, dict[str, float]]:
    found = stagetimes.histograms(store.connection, name, label)
    return {key: dict(h.buckets) for key, h in found.items()}


def test_each_stage_lands_in_its_bucket_once(store: Store) -> None:
    for status, when in (
        ("accepted", 1000.0),
        ("committed", 1003.0),
        ("deploying", 1020.0),
        ("deployed", 1140.0),
        ("live", 1150.0),
        # A redeploy after an update measures nothing again.
        ("updated", 2000.0),
        ("deploying", 2001.0),
        ("deployed", 2100.0),
        ("live", 2200.0),
    ):
        at(store, "shop", status, when)
    stages = stagetimes.histograms(store.connection, stagetimes.STAGE, "stage")
    assert sorted(stages) == ["committed", "deployed", "deploying", "live"]
    assert stages["committed"].count == 1
    assert stages["committed"].sum == 3.0
    assert dict(stages["committed"].buckets)["5.0"] == 1
    assert dict(stages["deploying"].buckets) == {
        "5.0": 0,
        "15.0": 0,
        "30.0": 1,
        "60.0": 1,
        "120.0": 1,
        "300.0": 1,
        "600.0": 1,
        "1800.0": 1,
        "3600.0": 1,
        "+Inf": 1,
    }
    assert dict(stages["deployed"].buckets)["60.0"] == 0
    assert dict(stages["deployed"].buckets)["120.0"] == 1
    (total,) = stagetimes.histograms(store.connection, stagetimes.TOTAL).values()
    assert (total.count, total.sum) == (1, 150.0)
    assert dict(total.buckets)["120.0"] == 0
    assert dict(total.buckets)["300.0"] == 1


def test_a_tenant_that_failed_before_going_live_is_counted_when_it_does(store: Store) -> None:
    for status, when in (
        ("accepted", 0.0),
        ("committed", 1.0),
        ("deploying", 2.0),
        ("deployed", 3.0),
        ("failed", 903.0),
    ):
        at(store, "slow", status, when)
    assert stagetimes.histograms(store.connection, stagetimes.TOTAL) == {}
    at(store, "slow", "live", 4000.0)
    (total,) = stagetimes.histograms(store.connection, stagetimes.TOTAL).values()
    assert (total.count, total.sum) == (1, 4000.0)
    assert dict(total.buckets)["3600.0"] == 0
    assert dict(total.buckets)["+Inf"] == 1


def test_add_transition_records_them_in_its_own_transaction(store: Store) -> None:
    for status in ("accepted", "committed", "deploying", "deployed", "live"):
        assert store.add_transition("quick", status)
    (total,) = stagetimes.histograms(store.connection, stagetimes.TOTAL).values()
    assert total.count == 1
    assert dict(total.buckets)["5.0"] == 1
    # A late report the state machine drops adds nothing either.
    assert not store.add_transition("quick", "deployed")
    stages = stagetimes.histograms(store.connection, stagetimes.STAGE, "stage")
    assert [stages[stage].count for stage in sorted(stages)] == [1, 1, 1, 1]


def test_a_transition_rolled_back_takes_its_durations_with_it(store: Store) -> None:
    store.add_transition("shop", "accepted")

    def commit_then_fail() -> None:
        with store.transaction():
            store.add_transition("shop", "committed")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        commit_then_fail()
    assert stagetimes.histograms(store.connection, stagetimes.STAGE, "stage") == {}
    store.add_transition("shop", "committed")
    stages = stagetimes.histograms(store.connection, stagetimes.STAGE, "stage")
    assert stages["committed"].count == 1


def test_the_lookup_reads_one_tenant_from_its_index(store: Store) -> None:
    plan = store.connection.execute(
        f"EXPLAIN QUERY PLAN {stagetimes.HISTORY_SQL}", ("acme", "acme")
    ).fetchall()
    details = [row[-1] for row in plan]
    assert all("SCAN transitions" not in detail for detail in details), details
    assert any("USING INDEX transitions_slug" in detail for detail in details), details


def counter_rows(db: sqlite3.Connection) -> dict[tuple[str, str], float]:
    return {(name, labels): value for name, labels, value in db.execute("SELECT * FROM counters")}


def fresh() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrations.run(db, files("gitops_bot.store").joinpath("schema.sql").read_text())
    return db


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(sorted(STATUSES)),
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_the_upgrade_back_fills_what_recording_would_have_added(
    history: list[tuple[str, str, float]],
) -> None:
    recorded, upgraded = fresh(), fresh()
    for slug, status, when in history:
        for db in (recorded, upgraded):
            db.execute(
                "INSERT INTO transitions (slug, status, at) VALUES (?, ?, ?)", (slug, status, when)
            )
        stagetimes.record(recorded, slug, status)
    (step,) = [step for step in migrations.STEPS if step.script == "0011_signup_timeline.sql"]
    migrations.run(upgraded, step.sql())
    expected, found = counter_rows(recorded), counter_rows(upgraded)
    assert set(found) == set(expected)
    for key, value in expected.items():
        assert math.isclose(found[key], value, rel_tol=1e-9, abs_tol=1e-6), key


def test_an_upgraded_file_shows_its_history_in_the_histograms(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    with Store(path) as store:
        store.migrate()
        for status, when in (("accepted", 10.0), ("committed", 14.0), ("live", 20.0)):
            at(store, "old", status, when)
        # As the file was before this version: no index, no totals, yet the same history.
        with store.transaction() as db:
            db.execute("DROP INDEX transitions_live")
            db.execute("DELETE FROM counters")
            db.execute(f"PRAGMA user_version = {TIMELINE_STEP - 1:d}")
        store.migrate()
        (total,) = stagetimes.histograms(store.connection, stagetimes.TOTAL).values()
        assert (total.count, total.sum) == (1, 10.0)
        committed = stagetimes.histograms(store.connection, stagetimes.STAGE, "stage")
        assert committed["committed"].sum == 4.0
