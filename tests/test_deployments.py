"""deployments: the payload the bot's webhook reads and the statuses of one deploy run."""

from __future__ import annotations

from fake_deployments import RecordingDeployments
from gitops_bot.deployments import (
    MAX_URL_STATUSES,
    NewTenant,
    Reporter,
    api_from_environ,
    log_url,
    payload,
)

HEAD = "c0ffee" * 6 + "c0fe"
BASE = "bead" * 10
LOG = "https://github.com/acme/state/actions/runs/42"


def new(slug: str, host: str = "web-1") -> NewTenant:
    return NewTenant(slug, host, f"https://{slug}.tenants.example.com")


def started(api: RecordingDeployments, tenants: tuple[NewTenant, ...] = ()) -> Reporter:
    reporter = Reporter(api, log_url=LOG)
    reporter.start(
        head=HEAD, engine="nixops", hosts={"web-2": None, "web-1": BASE}, new_tenants=tenants
    )
    return reporter


def test_the_payload_names_hosts_with_their_base_and_new_tenants() -> None:
    assert payload(
        head=HEAD, engine="colmena", hosts={"web-2": None, "web-1": BASE}, new_tenants=[new("acme")]
    ) == {
        "gitopsBot": 1,
        "engine": "colmena",
        "head": HEAD,
        "hosts": [{"name": "web-1", "base": BASE}, {"name": "web-2", "base": None}],
        "newTenants": [
            {"slug": "acme", "host": "web-1", "url": "https://acme.tenants.example.com"}
        ],
    }


def test_start_creates_one_production_deployment_in_progress() -> None:
    api = RecordingDeployments()
    started(api, (new("acme"),))

    deployment = api.only()
    assert (deployment.ref, deployment.environment) == (HEAD, "production")
    assert deployment.payload["newTenants"][0]["slug"] == "acme"
    assert deployment.description == "nixops: web-1, web-2"
    assert deployment.statuses == [
        {
            "state": "in_progress",
            "description": "deploying web-1, web-2",
            "environment_url": None,
            "log_url": LOG,
        }
    ]


def test_success_links_each_new_tenant() -> None:
    api = RecordingDeployments()
    started(api, (new("acme"), new("globex", "web-2"))).succeed()

    statuses = api.only().statuses[1:]
    assert [(s["state"], s["environment_url"]) for s in statuses] == [
        ("success", "https://acme.tenants.example.com"),
        ("success", "https://globex.tenants.example.com"),
    ]
    assert statuses[1]["description"] == "globex is live on web-2"


def test_success_without_new_tenants_is_one_status() -> None:
    api = RecordingDeployments()
    started(api).succeed()

    assert api.only().states() == ["in_progress", "success"]
    assert api.only().statuses[1]["description"] == "deployed 2 host(s)"


def test_many_new_tenants_link_a_few_and_count_the_rest() -> None:
    api = RecordingDeployments()
    tenants = tuple(new(f"tenant-{i:03d}") for i in range(MAX_URL_STATUSES + 5))
    started(api, tenants).succeed()

    statuses = api.only().statuses[1:]
    assert sum(1 for s in statuses if s["environment_url"]) == MAX_URL_STATUSES
    assert statuses[-1]["description"] == "deployed 2 host(s); 5 more new tenant(s) in the payload"
    assert len(api.only().payload["newTenants"]) == MAX_URL_STATUSES + 5


def test_failure_is_reported_with_its_reason() -> None:
    api = RecordingDeployments()
    started(api, (new("acme"),)).fail("nixops exited with code 1")

    assert api.only().states() == ["in_progress", "failure"]
    assert api.only().statuses[1]["description"] == "nixops exited with code 1"


def test_without_an_api_nothing_is_reported_and_nothing_fails() -> None:
    reporter = Reporter(None)
    reporter.start(head=HEAD, engine="nixops", hosts={"web-1": None}, new_tenants=[new("a1")])
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
