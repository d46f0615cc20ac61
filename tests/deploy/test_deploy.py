"""deploy.apply: the engine, then markers and GitHub Deployment statuses, in that order.

The state repo is the fake GitHub's own bare repo, so markers pushed by git and the
Deployments created through PyGithub land in one place, as on GitHub.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import fleet
from fakegithub import FakeGitHub
from fleet import HOSTS, remote_markers, tenant
from gitops_bot.backends import gitrepo
from gitops_bot.deploy import deploy as deploy_module
from gitops_bot.deploy import engine, markers
from gitops_bot.github.deployments import GitHubDeployments, Reporter, ReportError
from helpers import Clone

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from github import Github

    from fake_engine import FakeEngine


class RefusesSuccess(GitHubDeployments):
    """GitHub failing from the moment the engine finished: the success status is refused."""

    def create_status(self, deployment_id: int, *, state: str, **details: Any) -> None:
        if state == "success":
            raise ReportError("deployment status 'success' failed: 502 Bad Gateway")
        super().create_status(deployment_id, state=state, **details)


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as fake:
        yield fake


@pytest.fixture
def rest(github: FakeGitHub) -> Iterator[Github]:
    client = github.client()
    yield client
    client.close()


@pytest.fixture
def state(tmp_path: Path, github: FakeGitHub) -> Clone:
    return fleet.seed(tmp_path, remote=github.repo_path)


@pytest.fixture
def deployed(state: Clone, fake_engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> str:
    return fleet.deploy_once(state, fake_engine, capsys)


def deployments(github: FakeGitHub, rest: Github) -> dict[str, Any]:
    """Each deployment by commit: its payload and its statuses' (state, environment_url)."""
    return {
        d.sha: {
            "payload": d.payload,
            "statuses": [(s.state, s.environment_url) for s in reversed(list(d.get_statuses()))],
        }
        for d in rest.get_repo(github.full_name).get_deployments()
    }


def prepare(state: Clone) -> tuple[Path, deploy_module.Selection, dict[str, str]]:
    """What the CLI reads before deploying: the remote's markers and the hosts to deploy."""
    repo = state.path
    markers.fetch(repo, "origin", token=None)
    current = markers.read(repo)
    head = state.git("rev-parse", "HEAD")
    return repo, deploy_module.select(repo, head=head, deployed=current), current


def apply(state: Clone, api: GitHubDeployments, **overrides: Any) -> list[str]:
    """deploy.apply as the CLI runs it, reported to `api`, markers pushed to the remote."""
    repo, selection, current = prepare(state)
    return run_apply(state, repo, selection, api, deployed=current, **overrides)


def run_apply(
    state: Clone,
    repo: Path,
    selection: deploy_module.Selection,
    api: GitHubDeployments,
    **overrides: Any,
) -> list[str]:
    options: dict[str, Any] = {
        "argv": engine.command("nixops", selection.hosts, nixops_deployment="fleet"),
        "cwd": state.path,
        "remote": "origin",
        "token": None,
        "reporter": Reporter(api, log_url="https://ci.example/run/1"),
    } | overrides
    return deploy_module.apply(repo, selection, **options)


def test_a_deploy_reports_its_hosts_and_new_tenants_to_github(
    state: Clone, deployed: str, fake_engine: FakeEngine, github: FakeGitHub, rest: Github
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")

    assert apply(state, GitHubDeployments(rest.get_repo(github.full_name))) == []

    deployment = deployments(github, rest)[head]
    assert deployment["payload"]["hosts"] == [{"name": "web-2", "base": deployed}]
    assert deployment["payload"]["newTenants"] == [
        {"slug": "charlie", "host": "web-2", "url": "https://charlie.tenants.example.com"}
    ]
    assert deployment["statuses"] == [
        ("in_progress", ""),
        ("success", "https://charlie.tenants.example.com"),
    ]
    assert remote_markers(state)["web-2"] == head


def test_a_failed_engine_reports_failure_and_moves_no_marker(
    state: Clone, deployed: str, fake_engine: FakeEngine, github: FakeGitHub, rest: Github
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")
    fake_engine.fail_with(1)

    with pytest.raises(deploy_module.DeployError, match="next run deploys web-2 again"):
        apply(state, GitHubDeployments(rest.get_repo(github.full_name)))

    assert deployments(github, rest)[head]["statuses"] == [("in_progress", ""), ("failure", "")]
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)


def test_an_engine_that_cannot_start_is_a_failed_deploy(
    state: Clone, deployed: str, fake_engine: FakeEngine, github: FakeGitHub, rest: Github
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")

    with pytest.raises(deploy_module.DeployError, match="not-installed is not on PATH"):
        apply(state, GitHubDeployments(rest.get_repo(github.full_name)), argv=["not-installed"])

    assert deployments(github, rest)[head]["statuses"] == [("in_progress", ""), ("failure", "")]
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)


def test_no_deployment_means_no_deploy(
    state: Clone, deployed: str, fake_engine: FakeEngine, github: FakeGitHub, rest: Github
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    state.commit("add charlie")
    github.faults.fail_next(1, status=503, methods=["POST"], path=r"/deployments$")

    with pytest.raises(deploy_module.DeployError, match="nothing was deployed"):
        apply(state, GitHubDeployments(rest.get_repo(github.full_name)))

    assert fake_engine.calls() == []
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed)


def test_a_marker_moved_meanwhile_is_not_overwritten(
    state: Clone,
    deployed: str,
    fake_engine: FakeEngine,
    github: FakeGitHub,
    rest: Github,
    tmp_path: Path,
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    middle = state.commit("add charlie")
    state.write("tenants/charlie.json", tenant("charlie", "web-2", state="suspended"))
    head = state.commit("suspend charlie")
    repo, selection, current = prepare(state)
    # Another machine deploys web-2 at `middle` after this run read the markers.
    other = Clone(tmp_path / "other", state.remote).path
    gitrepo.push_refs(other, "origin", {markers.ref("web-2"): (deployed, middle)}, token=None)
    api = GitHubDeployments(rest.get_repo(github.full_name))

    problems = run_apply(state, repo, selection, api, deployed=current)

    assert len(problems) == 1
    assert "markers were not recorded" in problems[0]
    statuses = deployments(github, rest)[head]["statuses"]
    assert [name for name, _ in statuses] == ["in_progress", "success"]  # the hosts got it
    assert remote_markers(state) == dict.fromkeys(HOSTS, deployed) | {"web-2": middle}


def test_markers_move_even_when_github_is_not_told(
    state: Clone, deployed: str, fake_engine: FakeEngine, github: FakeGitHub, rest: Github
) -> None:
    state.write("tenants/charlie.json", tenant("charlie", "web-2"))
    head = state.commit("add charlie")

    problems = apply(state, RefusesSuccess(rest.get_repo(github.full_name)))

    assert problems == [
        "deployed, but GitHub was not told: deployment status 'success' failed: 502 Bad Gateway"
    ]
    assert remote_markers(state)["web-2"] == head
