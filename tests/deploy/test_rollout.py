"""Rollouts on a real queue, branch and HTTPS tenants: complete, halt on a failing probe, abort."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rollout_fleet import (
    BASE,
    RELEASE,
    SLUGS,
    drive,
    know_release,
    live_fleet,
    probing,
    release_on_branch,
    stand_in_deploy,
    start,
    worker_env,
)
from tls_site import Site, TestCA

from fake_engine import FakeEngine
from gitops_bot.config import Settings
from gitops_bot.deploy.live import LiveRunner
from gitops_bot.deploy.rollout import RolloutDriver
from gitops_bot.deploy.rollout_steer import control
from gitops_bot.policy import Policy
from gitops_bot.store import outbox, rollouts
from gitops_bot.store.queue import Answer, Store
from gitops_bot.writer.writer import Writer
from helpers import git


@pytest.fixture(autouse=True)
def _release_is_known(seed_dir: Path) -> None:
    know_release(seed_dir)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestCA, Site]]:
    ca = TestCA(tmp_path / "ca")
    served = Site(*ca.issue(*(f"{slug}.{BASE}" for slug in SLUGS)))
    yield ca, served
    served.close()


@pytest.fixture
def fleet(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    settings: Settings,
    site: tuple[TestCA, Site],
    fake_engine: FakeEngine,
    tmp_path: Path,
) -> tuple[Settings, LiveRunner]:
    """Five tenants live on the legacy package, and the probe that saw them go live."""
    live_fleet(client, writer, store, tmp_path)
    settings = probing(settings, *site)
    live = LiveRunner(settings)
    deadline = time.monotonic() + 20
    while store.slugs_with_status("live") != set(SLUGS):
        assert time.monotonic() < deadline, [store.last_status(s) for s in SLUGS]
        live.run(store)
        time.sleep(0.02)
    return settings, live


def wave_states(store: Store, rollout_id: int) -> list[tuple[int, str, int]]:
    return [(w.number, w.state, w.size) for w in rollouts.waves(store.connection, rollout_id)]


def test_a_rollout_moves_every_wave_to_the_release_once_the_one_before_is_live(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    outbox.enable(store.connection, on=True)
    rollout_id = start(settings, store, waves="1,60%,100%")
    assert wave_states(store, rollout_id) == [
        (1, "pending", 1),
        (2, "pending", 2),
        (3, "pending", 2),
    ]
    driver = RolloutDriver(settings)
    driver.tick(store)
    # Only the first wave is queued: the canary goes alone.
    assert store.pending_count() == 1
    state = drive(driver, live, writer, store, tmp_path, until=lambda s: s == "completed")
    assert state == "completed"
    assert {slug: release_on_branch(settings, slug) for slug in SLUGS} == dict.fromkeys(
        SLUGS, RELEASE
    )
    assert [w[1] for w in wave_states(store, rollout_id)] == ["done"] * 3
    assert all(t.state == "live" for t in rollouts.tenants(store.connection, rollout_id))
    # Each wave went through the queue as tenant.update events, one per tenant.
    types = store.connection.execute(
        "SELECT type, content FROM events WHERE id LIKE 'rollout-%'"
    ).fetchall()
    assert (
        sorted(tuple(row) for row in types)
        == [("tenant.update", json.dumps({"release": RELEASE}))] * 5
    )
    # The landing page hears of each upgrade, after the `live` it follows.
    upgraded = [
        json.loads(body)
        for (body,) in store.connection.execute("SELECT body FROM outbox ORDER BY transition_id")
        if json.loads(body)["type"] == "tenant.upgraded"
    ]
    assert sorted(u["data"]["slug"] for u in upgraded) == sorted(SLUGS)
    assert {u["data"]["release"] for u in upgraded} == {RELEASE}


def test_the_next_wave_waits_for_the_soak(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    rollout_id = start(settings, store, waves="1,100%", soak=600)
    driver = RolloutDriver(settings)
    drive(
        driver,
        live,
        writer,
        store,
        tmp_path,
        until=lambda _: wave_states(store, rollout_id)[0][1] == "soaking",
    )
    soak_until = rollouts.waves(store.connection, rollout_id)[0].soak_until
    assert soak_until is not None
    assert driver.tick(store, now=soak_until - 1) == "running"
    assert wave_states(store, rollout_id)[1][1] == "pending"
    driver.tick(store, now=soak_until + 1)
    assert wave_states(store, rollout_id)[1][1] == "queued"


def test_a_failing_probe_halts_the_rollout_naming_the_tenant_and_why(
    fleet: tuple[Settings, LiveRunner],
    writer: Writer,
    store: Store,
    tmp_path: Path,
    site: tuple[TestCA, Site],
) -> None:
    settings, live = fleet
    _ca, served = site
    rollout_id = start(settings, store, waves="1,100%")
    driver = RolloutDriver(settings)
    drive(
        driver,
        live,
        writer,
        store,
        tmp_path,
        until=lambda _: wave_states(store, rollout_id)[0][1] == "soaking",
    )
    served.behaviour.status = 502  # the release breaks the app
    state = drive(driver, live, writer, store, tmp_path, until=lambda s: s == "halted")
    rollout = rollouts.get(store.connection, rollout_id)
    assert state == "halted"
    assert rollout is not None
    assert rollout.halted_slug in SLUGS
    assert rollout.halt_reason is not None
    assert "502" in rollout.halt_reason
    assert f"{rollout.halted_slug} failed in wave 2" in rollout.halt_reason
    # Halted means halted: nothing more is queued, and no third wave starts.
    assert driver.tick(store) == "halted"
    assert store.pending_count() == 0
    # Once the app answers again, resume re-checks the wave and the rollout goes on.
    served.behaviour.status = 200
    assert control(store, "resume")[0]
    assert drive(driver, live, writer, store, tmp_path, until=lambda s: s == "completed")


def test_abort_queues_the_current_wave_back_to_its_previous_release(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    rollout_id = start(settings, store, waves="2,100%", soak=600)
    driver = RolloutDriver(settings)
    drive(
        driver,
        live,
        writer,
        store,
        tmp_path,
        until=lambda _: wave_states(store, rollout_id)[0][1] == "soaking",
    )
    moved = [t.slug for t in rollouts.tenants(store.connection, rollout_id, 1)]
    assert all(release_on_branch(settings, slug) == RELEASE for slug in moved)
    assert control(store, "abort") == (True, f"rollout {rollout_id} of {RELEASE}: aborting")
    assert driver.tick(store) == "aborted"
    assert rollouts.get(store.connection, rollout_id).state == "aborted"  # type: ignore[union-attr]
    writer.drain_once()
    # Back to the release intake wrote into their files at signup, the fleet's default.
    assert all(release_on_branch(settings, slug) == "2026.11" for slug in SLUGS)
    assert [w[1] for w in wave_states(store, rollout_id)] == ["reverted", "pending"]


def test_pause_holds_the_next_wave_and_resume_goes_on(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    rollout_id = start(settings, store, waves="1,100%")
    driver = RolloutDriver(settings)
    assert control(store, "pause") == (True, f"rollout {rollout_id} of {RELEASE}: paused")
    assert driver.tick(store) == "paused"
    assert store.pending_count() == 0
    assert control(store, "pause")[1] == f"rollout {rollout_id} is paused already"
    assert control(store, "resume")[0]
    assert drive(driver, live, writer, store, tmp_path, until=lambda s: s == "completed")


def test_a_second_rollout_is_refused_while_one_is_open(
    fleet: tuple[Settings, LiveRunner], store: Store
) -> None:
    settings, _live = fleet
    start(settings, store, waves="100%")
    with pytest.raises(rollouts.RolloutOpen):
        start(settings, store, waves="100%")
    assert control(store, "abort")[0]
    RolloutDriver(settings).tick(store)
    start(settings, store, waves="100%")  # the first is finished: a new one may start


def test_a_change_the_checker_refuses_halts_the_rollout(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    rollout_id = start(settings, store, waves="100%")
    first = rollouts.tenants(store.connection, rollout_id)[0].slug
    # The tenant is deleted behind the rollout's back, before its wave is queued.
    store.connection.execute("DELETE FROM tenants WHERE slug = ?", (first,))
    state = drive(
        driver := RolloutDriver(settings),
        live,
        writer,
        store,
        tmp_path,
        until=lambda s: s == "halted",
    )
    assert state == "halted"
    rollout = rollouts.get(store.connection, rollout_id)
    assert rollout is not None
    assert rollout.halt_reason == f"{first} failed in wave 1: '{first}' is no longer a tenant"
    assert driver.tick(store) == "halted"


WORKER = "import sys\nfrom gitops_bot.cli import main\nsys.exit(main(['worker']))\n"


@pytest.mark.slow
def test_a_rollout_resumes_after_kill_9_of_the_worker_and_changes_each_tenant_once(
    request: pytest.FixtureRequest,
    fleet: tuple[Settings, LiveRunner],
    store: Store,
    state_repo: Path,
    tmp_path: Path,
) -> None:
    settings, _live = fleet
    rollout_id = start(settings, store, waves="1,3,100%")
    log = (tmp_path / "worker.log").open("ab")
    request.addfinalizer(log.close)
    env = worker_env(settings)

    def run_worker_until(done: Callable[[], bool]) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stderr=log)
        deadline = time.monotonic() + 60
        while not done():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, rollouts.summary(store.connection)
            stand_in_deploy(store, tmp_path)
            time.sleep(0.05)
        return worker

    # Killed the moment the second wave is in the queue: its events may or may not be
    # committed yet, and the driver's next step is half-way.
    worker = run_worker_until(lambda: wave_states(store, rollout_id)[1][1] != "pending")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    worker = run_worker_until(
        lambda: (
            (r := rollouts.get(store.connection, rollout_id)) is not None and r.state == "completed"
        )
    )
    worker.terminate()
    worker.wait(timeout=30)
    assert {slug: release_on_branch(settings, slug) for slug in SLUGS} == dict.fromkeys(
        SLUGS, RELEASE
    )
    # One event per tenant, and one commit trailer per event: nothing was done twice.
    events = [
        e for (e,) in store.connection.execute("SELECT id FROM events WHERE id LIKE 'rollout-%'")
    ]
    assert sorted(events) == sorted(f"rollout-{rollout_id}-{slug}" for slug in SLUGS)
    trailers = git(state_repo, "log", "--format=%(trailers:key=Gitops-Event,valueonly)", "main")
    rollout_trailers = [line for line in trailers.split() if line.startswith("rollout-")]
    assert sorted(rollout_trailers) == sorted(events)


def test_a_wave_is_reviewed_where_the_policy_says_and_goes_on_once_merged(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    reviewed = settings.model_copy(update={"policy": Policy(events={"tenant.update": "pr"})})
    rollout_id = start(settings, store, waves="1")
    driver = RolloutDriver(reviewed)
    driver.tick(store)
    (slug,) = [t.slug for t in rollouts.tenants(store.connection, rollout_id)]
    delivery = store.connection.execute(
        "SELECT delivery FROM events WHERE id = ?", (f"rollout-{rollout_id}-{slug}",)
    ).fetchone()[0]
    assert delivery == "pr"
    writer.drain_once()
    assert store.last_status(slug) == "pr_open"
    # Unmerged, nothing deploys and the wave waits.
    for _ in range(3):
        assert driver.tick(store) == "running"
        stand_in_deploy(store, tmp_path)
        live.run(store)
    assert release_on_branch(settings, slug) == "2026.11"  # still the default
    store.record_event(  # what `gitops-bot approve` queues
        event_id="cli_approve",
        event_type="review.approve",
        body_sha256="0" * 64,
        answer=Answer(202, {"slug": slug, "status": "accepted"}),
        status="pending",
        slug=slug,
        op="merge",
    )
    assert drive(driver, live, writer, store, tmp_path, until=lambda s: s == "completed")
    assert release_on_branch(settings, slug) == RELEASE


def test_a_failure_during_the_soak_halts_and_the_soak_starts_again_after_resume(
    fleet: tuple[Settings, LiveRunner], writer: Writer, store: Store, tmp_path: Path
) -> None:
    settings, live = fleet
    rollout_id = start(settings, store, waves="1,100%", soak=600)
    driver = RolloutDriver(settings)
    drive(
        driver,
        live,
        writer,
        store,
        tmp_path,
        until=lambda _: wave_states(store, rollout_id)[0][1] == "soaking",
    )
    (canary,) = rollouts.tenants(store.connection, rollout_id, 1)
    # A later deploy of its host failed, as a failed deployment_status reports it.
    store.add_transition(canary.slug, "failed", reason="deploy failed: nixops exited with 1")
    assert driver.tick(store) == "halted"
    assert wave_states(store, rollout_id)[0][1] == "queued"
    halt = rollouts.get(store.connection, rollout_id).halt_reason  # type: ignore[union-attr]
    assert halt == f"{canary.slug} failed in wave 1: failed: deploy failed: nixops exited with 1"
    assert control(store, "resume")[0]
    assert driver.tick(store) == "running"  # the old failure no longer counts
    with store.transaction():
        store.add_transition(canary.slug, "deploying")
        store.add_transition(canary.slug, "deployed")
    drive(
        driver,
        live,
        writer,
        store,
        tmp_path,
        until=lambda _: wave_states(store, rollout_id)[0][1] == "soaking",
    )
    assert wave_states(store, rollout_id)[1][1] == "pending"
