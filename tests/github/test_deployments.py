"""deployments: the payload the bot's webhook reads and the statuses of one deploy run, sent
through PyGithub to the fake GitHub."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from gitops_bot.github.deployments import (
    MAX_URL_STATUSES,
    GitHubDeployments,
    NewTenant,
    Reporter,
    ReportError,
    api_from_environ,
    log_url,
    payload,
)

if TYPE_CHECKING:
    from github import Github

    from fakegithub import FakeGitHub

BASE = "bead" * 10
LOG = "https://github.com/acme/state/actions/runs/42"


@dataclass
class Seen:
    """One deployment as GitHub stores it, read back through the API."""

    sha: str
    environment: str
    production: bool
    description: str
    payload: dict[str, Any]
    statuses: list[tuple[str, str, str]]  # (state, description, environment_url), oldest first


def new(slug: str, host: str = "web-1") -> NewTenant:
    return NewTenant(slug, host, f"https://{slug}.tenants.example.com")


@pytest.fixture
def head(fake_github: FakeGitHub) -> str:
    sha = fake_github.branch_sha("main")
    assert sha is not None
    return sha


@pytest.fixture
def api(fake_github: FakeGitHub, github_client: Github) -> GitHubDeployments:
    return GitHubDeployments(github_client.get_repo(fake_github.full_name))


def seen(fake_github: FakeGitHub, github_client: Github) -> list[Seen]:
    repo = github_client.get_repo(fake_github.full_name)
    return [
        Seen(
            d.sha,
            d.environment,
            d.production_environment,
            d.description,
            d.payload,
            [(s.state, s.description, s.environment_url) for s in reversed(list(d.get_statuses()))],
        )
        for d in repo.get_deployments()
    ]


def started(api: GitHubDeployments, head: str, *tenants: NewTenant) -> Reporter:
    reporter = Reporter(api, log_url=LOG)
    reporter.start(
        head=head, engine="nixops", hosts={"web-2": None, "web-1": BASE}, new_tenants=tenants
    )
    return reporter


def test_the_payload_names_hosts_with_their_base_and_new_tenants() -> None:
    assert payload(
        head="c0ffee",
        engine="colmena",
        hosts={"web-2": None, "web-1": BASE},
        new_tenants=[new("a1b")],
    ) == {
        "gitopsBot": 1,
        "engine": "colmena",
        "head": "c0ffee",
        "hosts": [{"name": "web-1", "base": BASE}, {"name": "web-2", "base": None}],
        "newTenants": [{"slug": "a1b", "host": "web-1", "url": "https://a1b.tenants.example.com"}],
    }


def test_start_creates_one_production_deployment_in_progress(
    fake_github: FakeGitHub, github_client: Github, api: GitHubDeployments, head: str
) -> None:
    started(api, head, new("acme"))

    (deployment,) = seen(fake_github, github_client)
    assert (deployment.sha, deployment.environment, deployment.production) == (
        head,
        "production",
        True,
    )
    assert deployment.payload["newTenants"][0]["slug"] == "acme"
    assert deployment.description == "nixops: web-1, web-2"
    assert deployment.statuses == [("in_progress", "deploying web-1, web-2", "")]
    (status,) = github_client.get_repo(fake_github.full_name).get_deployments()[0].get_statuses()
    assert status.log_url == LOG


def test_success_links_each_new_tenant(
    fake_github: FakeGitHub, github_client: Github, api: GitHubDeployments, head: str
) -> None:
    started(api, head, new("acme"), new("globex", "web-2")).succeed()

    (deployment,) = seen(fake_github, github_client)
    assert deployment.statuses[1:] == [
        ("success", "acme is live on web-1", "https://acme.tenants.example.com"),
        ("success", "globex is live on web-2", "https://globex.tenants.example.com"),
    ]


def test_success_without_new_tenants_is_one_status(
    fake_github: FakeGitHub, github_client: Github, api: GitHubDeployments, head: str
) -> None:
    started(api, head).succeed()

    (deployment,) = seen(fake_github, github_client)
    assert deployment.statuses[1:] == [("success", "deployed 2 host(s)", "")]


def test_many_new_tenants_link_a_few_and_count_the_rest(
    fake_github: FakeGitHub, github_client: Github, api: GitHubDeployments, head: str
) -> None:
    tenants = [new(f"tenant-{i:03d}") for i in range(MAX_URL_STATUSES + 5)]
    started(api, head, *tenants).succeed()

    (deployment,) = seen(fake_github, github_client)
    linked = [url for _, _, url in deployment.statuses if url]
    assert linked == [t.url for t in tenants[:MAX_URL_STATUSES]]
    assert deployment.statuses[-1] == (
        "success",
        "deployed 2 host(s); 5 more new tenant(s) in the payload",
        "",
    )
    assert len(deployment.payload["newTenants"]) == MAX_URL_STATUSES + 5


def test_failure_is_reported_with_its_reason(
    fake_github: FakeGitHub, github_client: Github, api: GitHubDeployments, head: str
) -> None:
    started(api, head, new("acme")).fail("nixops exited with code 1")

    (deployment,) = seen(fake_github, github_client)
    assert deployment.statuses[1:] == [("failure", "nixops exited with code 1", "")]


def test_a_refused_call_is_a_report_error(
    fake_github: FakeGitHub, api: GitHubDeployments, head: str
) -> None:
    fake_github.faults.fail_next(1, status=403, methods=["POST"], path=r"/deployments$")
    with pytest.raises(ReportError, match="creating the deployment failed"):
        started(api, head)

    reporter = started(api, head)
    fake_github.faults.fail_next(1, status=422, methods=["POST"], path=r"/statuses$")
    with pytest.raises(ReportError, match="deployment status 'success' failed"):
        reporter.succeed()


def test_without_an_api_nothing_is_reported_and_nothing_fails() -> None:
    reporter = Reporter(None)
    reporter.start(head="c0ffee", engine="nixops", hosts={"web-1": None}, new_tenants=[new("a1b")])
    reporter.succeed()
    reporter.fail("ignored")
    assert reporter.deployment_id is None


def test_the_environment_decides_whether_github_is_told() -> None:
    api, note = api_from_environ({"GITHUB_REPOSITORY": "acme/state"})
    assert api is None
    assert "skipped" in note
    assert api_from_environ({"GITHUB_TOKEN": "t"})[0] is None

    api, note = api_from_environ(
        {
            "GITHUB_TOKEN": "ghs_token",
            "GITHUB_REPOSITORY": "acme/state",
            "GITHUB_API_URL": "https://ghe.example.com/api/v3",
        }
    )
    assert api is not None
    assert note == "GitHub Deployments: acme/state at https://ghe.example.com/api/v3"
    assert "ghs_token" not in note


def test_the_log_url_is_the_actions_run() -> None:
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/state",
        "GITHUB_RUN_ID": "42",
    }
    assert log_url(env) == LOG
    assert log_url({"GITHUB_REPOSITORY": "acme/state"}) is None
