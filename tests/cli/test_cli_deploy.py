"""`gitops-bot deploy`: host selection over real commits, with a fake engine on PATH."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import fleet
from fakegithub import FakeGitHub
from fleet import HOSTS, NIXOPS, deploy, inventory, remote_markers, tenant
from gitops_bot.backends import gitrepo
from gitops_bot.cli import main
from helpers import Clone

if TYPE_CHECKING:
    from pathlib import Path

    from fake_engine import FakeEngine


@pytest.fixture
def state(tmp_path: Path) -> Clone:
    return fleet.seed(tmp_path)


@pytest.fixture
def deployed(state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> str:
    return fleet.deploy_once(state, fake_engine, capsys)


def test_a_first_deploy_deploys_every_host_and_records_each(
    state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = deploy(state, capsys)

    head = state.git("rev-parse", "HEAD")
    assert code == 0, err
    assert fake_engine.argvs() == [[*NIXOPS, *HOSTS]]
    assert fake_engine.calls()[0]["cwd"] == str(state.path)
    assert remote_markers(state) == dict.fromkeys(HOSTS, head)
    assert "web-1 (never deployed): first deploy: no refs/tags/deployed/web-1" in out
    assert "new tenant: alpha on web-1 (https://alpha.tenants.example.com)" in out
    assert "GitHub Deployments: skipped" in out


def test_one_commit_deploys_only_the_host_it_touches(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-2"]]
    assert remote_markers(state) == {"web-1": deployed, "web-2": head, "web-3": deployed}
    assert "web-2 (since" in out
    assert "tenants/charlie.json added" in out
    assert "up to date: web-1, web-3" in out
    assert "new tenant: charlie on web-2" in out


def test_two_commits_deploy_every_host_either_touched(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/alpha.json", tenant("alpha", "web-1", state="suspended"))
    state.commit("suspend alpha")
    state.write("tenants/delta.json", tenant("delta", "web-3"))
    state.commit("add delta")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-1", "web-3"]]
    assert "new tenant: delta on web-3" in out
    assert "alpha on" not in out  # changed, not new


def test_several_commits_compare_each_host_with_its_own_last_deploy(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-1"))
    first = state.commit("add charlie")
    assert deploy(state, capsys)[0] == 0  # web-1 only: its marker moves ahead of the others
    state.write("tenants/bravo.json", tenant("bravo", "web-2", state="suspended"))
    state.commit("suspend bravo")
    state.write("README.md", "notes\n")
    state.commit("docs")
    state.write("tenants/echo.json", tenant("echo", "web-1"))
    head = state.commit("add echo")
    assert remote_markers(state) == {"web-1": first, "web-2": deployed, "web-3": deployed}

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-1"], [*NIXOPS, "web-1", "web-2"]]
    assert f"web-1 (since {first[:12]}): tenants/echo.json added" in out
    assert f"web-2 (since {deployed[:12]}): tenants/bravo.json changed" in out
    assert remote_markers(state) == {"web-1": head, "web-2": head, "web-3": deployed}

    code, out, _ = deploy(state, capsys)  # nothing new: nothing runs
    assert code == 0
    assert len(fake_engine.calls()) == 2
    assert "nothing to deploy" in out


def test_a_host_move_deploys_both_hosts(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/alpha.json", tenant("alpha", "web-3"))
    state.commit("move alpha")

    assert deploy(state, capsys)[0] == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-1", "web-3"]]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("nix/module.nix", "{ ... }: { networking.firewall.enable = true; }\n"),
        ("nix/inventory.json", inventory() | {"baseDomain": "apps.example.com"}),
        ("flake.lock", "{}\n"),
    ],
)
def test_a_shared_nix_change_deploys_every_host(
    state: Clone,
    deployed: str,
    fake_engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    path: str,
    content: str | dict[str, Any],
) -> None:
    state.write(path, content)
    head = state.commit(f"change {path}")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, *HOSTS]]
    assert remote_markers(state) == dict.fromkeys(HOSTS, head)
    assert "up to date" not in out


def test_an_inventory_host_entry_deploys_that_host_and_a_new_host_is_deployed_first(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write(
        "nix/inventory.json",
        inventory(
            **{
                "web-3": {"address": "web-3.fleet.example.net", "capacity": 50},
                "web-4": {"address": "web-4.fleet.example.net", "capacity": 10},
            }
        ),
    )
    state.commit("grow web-3, add web-4")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-3", "web-4"]]
    assert "web-3 (since" in out
    assert "nix/inventory.json: hosts.web-3 changed" in out
    assert "web-4 (never deployed)" in out


def test_a_change_outside_the_deploy_deploys_nothing(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("README.md", "more notes\n")
    state.commit("docs")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.calls() == []
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)
    assert "up to date: web-1, web-2, web-3" in out


def test_a_failed_deploy_moves_nothing_and_the_next_run_retries_its_hosts(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    state.commit("add charlie")
    fake_engine.fail_with(3)

    code, out, err = deploy(state, capsys)

    assert code == 1
    assert "nixops exited with code 3" in err
    assert "next run deploys web-2 again" in err
    assert "deployed web-2" not in out
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)
    local = gitrepo.refs(state.path, "refs/tags/deployed/")
    assert set(local.values()) == {deployed}

    fake_engine.succeed()
    state.write("tenants/delta.json", tenant("delta", "web-1"))
    head = state.commit("add delta")
    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == [[*NIXOPS, "web-2"], [*NIXOPS, "web-1", "web-2"]]
    assert "new tenant: charlie on web-2" in out  # still new: web-2 never got it
    assert remote_markers(state) == {"web-1": head, "web-2": head, "web-3": deployed}


def test_dry_run_prints_the_command_and_changes_nothing(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    state.commit("add charlie")

    code, out, _ = deploy(state, capsys, "--dry-run")

    assert code == 0
    assert "command: nixops deploy -d fleet --include web-2" in out
    assert "dry run: nothing deployed" in out
    assert fake_engine.calls() == []
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)


def test_colmena_gets_the_same_hosts(
    state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = deploy(state, capsys, "--engine", "colmena")

    assert code == 0
    assert fake_engine.argvs() == [["colmena", "apply", "--on", "web-1,web-2,web-3"]]
    assert "command: colmena apply --on web-1,web-2,web-3" in out


def test_comin_explains_which_hosts_will_pull_and_moves_no_marker(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")

    code, out, _ = deploy(state, capsys, "--engine", "comin")

    assert code == 0
    assert fake_engine.calls() == []  # nothing runs from here: the hosts pull
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)
    assert "will switch: web-2;" in out
    assert f'comin_deployment_info{{commit_id="{head}",status="done"}}' in out
    assert "no deployed/<host> marker moves" in out
    assert "new tenant: charlie on web-2" in out


def test_a_push_engine_leaves_hosts_that_pull_alone(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    pulling = {"address": "web-2.fleet.example.net", "capacity": 10, "deploy": "comin"}
    state.write("nix/inventory.json", inventory(**{"web-2": pulling}))
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    state.write("tenants/delta.json", tenant("delta", "web-3"))
    head = state.commit("web-2 pulls; add charlie and delta")

    code, out, _ = deploy(state, capsys, "--engine", "colmena")

    assert code == 0
    # No SSH to web-2, no marker for it, and charlie is not reported deployed by this run.
    assert fake_engine.argvs() == [["colmena", "apply", "--on", "web-3"]]
    assert remote_markers(state) == {"web-1": deployed, "web-2": deployed, "web-3": head}
    assert "changed, but they pull it themselves (comin): web-2" in out
    assert "new tenant: delta on web-3" in out
    assert "new tenant: charlie" not in out


def test_markers_come_from_the_remote_when_pushing_them(
    state: Clone,
    deployed: str,
    fake_engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # Another machine deployed web-2 at a later commit, and a stale local tag says otherwise.
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")
    other = Clone(tmp_path / "other", state.remote).path
    ref = "refs/tags/deployed/web-2"
    gitrepo.push_refs(other, "origin", {ref: (deployed, head)}, token=None)

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.calls() == []
    assert "up to date: web-1, web-2, web-3" in out


def test_without_push_markers_the_tags_stay_local(
    state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "--repo", str(state.path)])

    assert code == 0
    assert remote_markers(state) == {}
    local = gitrepo.refs(state.path, "refs/tags/deployed/")
    assert len(local) == len(HOSTS)
    assert capsys.readouterr().out


def test_markers_of_hosts_gone_from_the_inventory_are_left_alone(
    state: Clone, deployed: str, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = inventory()
    del inv["hosts"]["web-3"]
    state.write("nix/inventory.json", inv)
    state.commit("retire web-3")

    code, out, _ = deploy(state, capsys)

    assert code == 0
    assert fake_engine.argvs() == []  # only web-3's own entry changed, and web-3 is gone
    assert "markers of hosts not in the inventory: web-3" in out
    assert remote_markers(state)["web-3"] == deployed


def test_the_engine_does_not_see_the_github_token(
    state: Clone,
    fake_engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_not-for-the-engine")
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)

    assert deploy(state, capsys)[0] == 0
    assert fake_engine.calls()[0]["sees_github_token"] is False


def test_refuses_a_revision_or_inventory_it_cannot_read(
    state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = deploy(state, capsys, "--rev", "no-such-rev")
    assert code == 1
    assert "not a revision of" in err

    state.write("nix/inventory.json", {"hosts": {}})
    state.commit("break the inventory")
    code, _, err = deploy(state, capsys)
    assert code == 1
    assert "nix/inventory.json at" in err
    assert fake_engine.calls() == []


@pytest.mark.slow
def test_in_github_actions_it_reports_to_github_and_pushes_markers_there(
    tmp_path: Path,
    fake_engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeGitHub(tmp_path / "github") as github:
        state = fleet.seed(tmp_path, remote=github.repo_path)
        for name, value in {
            "GITHUB_ACTIONS": "true",
            "GITHUB_TOKEN": github.token,
            "GITHUB_REPOSITORY": github.full_name,
            "GITHUB_API_URL": github.base_url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "7",
        }.items():
            monkeypatch.setenv(name, value)

        code, out, err = deploy(state, capsys)
        first = state.git("rev-parse", "HEAD")
        state.write("tenants/charlie.json", tenant("charlie", "web-3"))
        second = state.commit("add charlie")
        fake_engine.fail_with(2)
        failed, failed_out, failure = deploy(state, capsys)

        with github.client() as client:
            repo = client.get_repo(github.full_name)
            tags = {ref.ref: ref.object.sha for ref in repo.get_git_matching_refs("tags/deployed/")}
            deployments = {d.sha: d for d in repo.get_deployments()}
            states = {
                sha: [s.state for s in reversed(list(d.get_statuses()))]
                for sha, d in deployments.items()
            }
            urls = [s.environment_url for s in deployments[first].get_statuses()]

    assert code == 0, err
    assert f"GitHub Deployments: {github.full_name}" in out
    assert tags == {f"refs/tags/deployed/{host}": first for host in HOSTS}
    assert states[first] == ["in_progress", "success", "success"]
    assert sorted(u for u in urls if u) == [
        "https://alpha.tenants.example.com",
        "https://bravo.tenants.example.com",
    ]
    assert failed == 1
    assert "nixops exited with code 2" in failure
    assert "::error title=deploy failed::nixops exited with code 2" in failed_out
    assert states[second] == ["in_progress", "failure"]
