"""`gitops-bot rollout`: the plan it prints, its refusals and exit codes, status and steering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rollout_fleet import know_release

from gitops_bot.cli import main
from gitops_bot.config import Settings
from gitops_bot.store import rollouts
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import post_event, signup


@pytest.fixture(autouse=True)
def _release_is_known(seed_dir: Path) -> None:
    know_release(seed_dir)  # before the fixtures below seed the branch from it


@pytest.fixture
def on_branch(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    """Three more tenants on the branch (beside the seed's), and the CLI pointed at them."""
    for slug, plan in (("alpha", "pro"), ("bravo", "pro"), ("charlie", "free")):
        post_event(client, signup(slug, plan=plan))
    writer.drain_once()
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    monkeypatch.setenv("GITOPS_BOT_SEED_DIR", str(settings.seed_dir))
    return settings


def test_a_dry_run_prints_each_waves_restarts_per_host_and_starts_nothing(
    on_branch: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    filters = ["--plans", "pro", "--tenants", "alpha,bravo,charlie"]
    code = main(
        ["rollout", "start", "--release", "2026.12", "--waves", "1,100%", *filters, "--dry-run"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    hosts = {slug: store.tenant(slug).host for slug in ("alpha", "bravo")}  # type: ignore[union-attr]
    # charlie is on the free plan: filtered out. Only the app restarts, never its socket;
    # the canary comes from the first host, the next wave from the other.
    first, second = sorted(hosts, key=lambda slug: (hosts[slug], slug))
    assert lines == [
        "wave 1: 1 tenant(s)",
        f"  {hosts[first]}: restarts tenant-app@{first}.service",
        "wave 2: 1 tenant(s)",
        f"  {hosts[second]}: restarts tenant-app@{second}.service",
    ]
    assert rollouts.latest(store.connection) is None


def test_start_then_status_then_a_second_start_is_refused(
    on_branch: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "start", "--release", "2026.12", "--soak", "30s"]) == 0
    assert "rollout 1 of 2026.12 started" in capsys.readouterr().out
    assert main(["rollout", "status", "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["state"], status["soak"], status["release"]) == ("running", 30.0, "2026.12")
    # Default waves 1,10%,50%,100% of the 5 active tenants (2 of the 3 seeds, 3 new): 1,
    # then 10% adds nobody, 50% makes it 3 and 100% all 5.
    assert [w["size"] for w in status["waves"]] == [1, 2, 2]
    assert main(["rollout", "start", "--release", "2026.11"]) == 1
    assert "another rollout is still open" in capsys.readouterr().err


def test_pause_resume_abort_and_their_refusals(
    on_branch: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "pause"]) == 1
    assert capsys.readouterr().err == "no rollout is open\n"
    assert main(["rollout", "start", "--release", "2026.12"]) == 0
    assert main(["rollout", "pause"]) == 0
    assert main(["rollout", "status"]) == 0
    assert "rollout 1 of 2026.12: paused" in capsys.readouterr().out
    assert main(["rollout", "resume"]) == 0
    assert main(["rollout", "abort"]) == 0
    assert main(["rollout", "pause"]) == 1
    assert "rollout 1 is aborting; it cannot pause" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--waves", "1,abc"], "--waves: 'abc' is not a positive count or percentage"),
        (["--waves", "150%"], "--waves: '150%' is more than 100%"),
        (["--waves", "2.5"], "--waves: '2.5': a count is a whole number"),
        (["--soak", "soon"], "--soak: 'soon' is not a duration such as 30s, 10m or 1h"),
        (["--release", "../evil"], "--release: '../evil' is no release name"),
    ],
)
def test_a_bad_option_is_exit_2_naming_it(
    on_branch: Settings, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["rollout", "start", "--release", "2026.12", *args]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"gitops-bot rollout: {message}\n"


def test_nothing_to_move_is_exit_1(on_branch: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "start", "--release", "2026.12", "--hosts", "nowhere"]) == 1
    assert "no active tenant to move to 2026.12" in capsys.readouterr().err


def test_a_release_the_inventory_does_not_list_is_refused_before_any_wave(
    on_branch: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "start", "--release", "2099.1"]) == 1
    err = capsys.readouterr().err
    assert "--release: unknown release '2099.1'" in err
    assert "2026.11, 2026.12" in err
    with Store(on_branch.database_path) as store:
        assert rollouts.latest(store.connection) is None


def test_status_without_any_rollout_is_exit_1(
    on_branch: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "status"]) == 1
    assert capsys.readouterr().err == "no rollout yet\n"


def test_the_status_shows_a_halt_and_the_failed_tenant(
    on_branch: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rollout", "start", "--release", "2026.12", "--tenants", "alpha"]) == 0
    with store.transaction() as db:
        rollouts.set_tenant(db, 1, "alpha", "failed", reason="failed: HTTP: GET / answered 502")
        rollouts.move(
            db,
            1,
            "halted",
            allowed_from=("running",),
            now=0,
            halted_slug="alpha",
            halt_reason="alpha failed in wave 1: failed: HTTP: GET / answered 502",
        )
    capsys.readouterr()
    assert main(["rollout", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "halted: alpha failed in wave 1: failed: HTTP: GET / answered 502"
    assert lines[2].split() == ["wave", "1:", "pending", "0/1", "live,", "1", "failed"]
    assert lines[3] == "    alpha: failed: HTTP: GET / answered 502"
