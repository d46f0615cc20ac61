"""POST /webhooks/github: signatures, redeliveries, and what each event does to a tenant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.github.webhooks import verify_github_signature
from gitops_bot.intake.webhooks import Unauthorized
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import github_signature, post_event, post_github, signup

# GitHub's documented example (docs: "Validating webhook deliveries").
VECTOR_SECRET = "It's a Secret to Everybody"
VECTOR_BODY = b"Hello, World!"
VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def pull_payload(gh: FakeGitHub, number: int, action: str, sender: str = "alice") -> dict[str, Any]:
    """A pull_request delivery carrying the pull request exactly as the fake serves it."""
    with gh.client() as client:
        pull = client.get_repo(gh.full_name).get_pull(number).raw_data
    return {
        "action": action,
        "number": number,
        "pull_request": pull,
        "repository": {"full_name": gh.full_name},
        "sender": {"login": sender, "type": "User"},
    }


def deployment_payload(
    gh: FakeGitHub, sha: str, state: str, payload: object = None, **status: str
) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment_status": {"state": state, **status},
        "deployment": {"id": 1, "sha": sha, "environment": "production", "payload": payload},
        "repository": {"full_name": gh.full_name},
    }


@pytest.fixture
def reviewed(github_intake: FlaskClient, github_writer: Writer, fleet: FakeGitHub) -> int:
    """An enterprise signup whose pull request is open; its number."""
    post_event(github_intake, signup("reviewed-co", plan="enterprise"))
    github_writer.drain_once()
    (pull,) = fleet.pulls
    return pull.number


@pytest.fixture
def committed(github_intake: FlaskClient, github_writer: Writer, github_store: Store) -> str:
    """Two pro signups committed straight to main; the commit."""
    post_event(github_intake, signup("direct-a", plan="pro"))
    post_event(github_intake, signup("direct-b", plan="pro"))
    github_writer.drain_once()
    return str(github_store.transitions("direct-a")[-1]["commit_sha"])


# --- verification ---------------------------------------------------------------------------


def test_githubs_documented_test_vector() -> None:
    verify_github_signature(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)
    assert github_signature(VECTOR_BODY, VECTOR_SECRET) == VECTOR_SIGNATURE
    with pytest.raises(Unauthorized, match="does not match"):
        verify_github_signature(VECTOR_SECRET, b"Hello, World?", VECTOR_SIGNATURE)


@pytest.mark.parametrize(
    ("signature", "problem"),
    [
        (None, "header is missing"),
        ("", "header is missing"),
        ("sha1=" + "0" * 40, "malformed"),
        ("sha256=" + "G" * 64, "malformed"),
        ("sha256=" + "ab" * 40, "malformed"),
        ("sha256=" + "0" * 64, "does not match"),
    ],
)
def test_bad_or_missing_signature_is_401_naming_the_header(
    github_intake: FlaskClient, signature: str | None, problem: str
) -> None:
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    answer = github_intake.post(
        "/webhooks/github", data=b'{"zen": "x"}', headers=headers, content_type="application/json"
    )
    assert answer.status_code == 401
    assert answer.json["field"] == "X-Hub-Signature-256"
    assert problem in answer.json["error"]


def test_signed_with_another_secret_is_401(github_intake: FlaskClient) -> None:
    body = b"{}"
    answer = github_intake.post(
        "/webhooks/github",
        data=body,
        content_type="application/json",
        headers={
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-2",
            "X-Hub-Signature-256": github_signature(body, "not-our-secret"),
        },
    )
    assert answer.status_code == 401


def test_without_a_configured_secret_the_endpoint_says_so(client: FlaskClient) -> None:
    answer = post_github(client, "ping", {"zen": "x"})
    assert answer.status_code == 404
    assert "GITOPS_BOT_GITHUB_WEBHOOK_SECRET_FILE" in answer.json["error"]


@pytest.mark.parametrize(
    ("headers", "status", "field"),
    [
        ({"X-GitHub-Event": ""}, 400, "X-GitHub-Event"),
        ({"X-GitHub-Event": "Pull Request"}, 400, "X-GitHub-Event"),
        ({"X-GitHub-Delivery": ""}, 400, "X-GitHub-Delivery"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    ],
)
def test_signed_but_malformed_requests_name_what_is_wrong(
    github_intake: FlaskClient, headers: dict[str, str], status: int, field: str
) -> None:
    body = b'{"zen": "x"}'
    sent = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "d-3",
        "X-Hub-Signature-256": github_signature(body),
        **headers,
    }
    answer = github_intake.post("/webhooks/github", data=body, headers=sent)
    assert (answer.status_code, answer.json["field"]) == (status, field)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", "\u00e9t\u00e9".encode("latin-1")])
def test_signed_bodies_that_are_not_json_objects_are_400(
    github_intake: FlaskClient, body: bytes
) -> None:
    answer = github_intake.post(
        "/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-4",
            "X-Hub-Signature-256": github_signature(body),
        },
    )
    assert (answer.status_code, answer.json["field"]) == (400, "body")


@pytest.mark.parametrize("levels", [100, 32_000])
def test_signed_deeply_nested_bodies_are_400_naming_the_body(
    github_intake: FlaskClient, levels: int
) -> None:
    # 32,000 levels is a 64 KB body, and deeper than any stack: it was a 500.
    body = ('{"zen": ' + "[" * levels + "]" * levels + "}").encode()
    answer = github_intake.post(
        "/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "ping",
            "X-GitHub-Delivery": "d-deep",
            "X-Hub-Signature-256": github_signature(body),
        },
    )
    assert (answer.status_code, answer.json["field"]) == (400, "body")
    # Not recorded as handled: the delivery id is still free.
    assert post_github(github_intake, "ping", {}, delivery="d-deep").json["status"] == "processed"


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [
        ("pull_request", {"action": "closed"}, "pull_request"),
        ("pull_request", {"action": "closed", "pull_request": 5, "repository": {}}, "pull_request"),
        (
            "workflow_run",
            {"action": "completed", "repository": {"full_name": "a/b"}},
            "workflow_run",
        ),
        ("deployment_status", {"deployment": {}}, "deployment_status"),
    ],
)
def test_payloads_missing_what_is_read_are_400_never_500(
    github_intake: FlaskClient, event: str, payload: dict[str, Any], field: str
) -> None:
    answer = post_github(github_intake, event, payload)
    assert answer.status_code == 400
    assert answer.json["field"].startswith(field)
    # Not recorded as handled: once fixed, a redelivery is processed.
    assert post_github(github_intake, "ping", {}, delivery="fixed").status_code == 200


def test_ping_unknown_events_and_redeliveries(github_intake: FlaskClient) -> None:
    assert post_github(github_intake, "ping", {"zen": "Keep it logically awesome."}).json == {
        "status": "processed",
        "event": "ping",
        "note": "pong",
        "moved": [],
    }
    starred = post_github(github_intake, "star", {"action": "created"})
    assert (starred.status_code, starred.json["status"]) == (200, "ignored")
    first = post_github(github_intake, "ping", {}, delivery="same-guid")
    again = post_github(github_intake, "ping", {}, delivery="same-guid")
    assert (first.json["status"], again.json["status"]) == ("processed", "duplicate")


# --- pull requests --------------------------------------------------------------------------


def test_pr_mode_end_to_end_signup_review_merge(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    assert post_event(github_intake, signup("endtoend", plan="enterprise")).status_code == 202
    github_writer.drain_once()
    (pull,) = fleet.pulls
    assert (pull.requested_reviewers, pull.requested_teams, pull.labels) == (
        ["alice"],
        ["ops"],
        ["tenant"],
    )
    opened = post_github(github_intake, "pull_request", pull_payload(fleet, pull.number, "opened"))
    assert opened.json["moved"] == []  # the writer recorded pr_open already

    fleet.approve(pull.number, "alice")
    with fleet.client() as reviewer:
        reviewer.get_repo(fleet.full_name).get_pull(pull.number).merge()
    merged = post_github(github_intake, "pull_request", pull_payload(fleet, pull.number, "closed"))
    assert merged.json["moved"] == [{"slug": "endtoend", "status": "merged"}]
    last = github_store.transitions("endtoend")[-1]
    assert (last["status"], last["commit_sha"]) == ("merged", fleet.branch_sha("main"))
    github_writer.head()  # the writer's own sync agrees and adds nothing
    assert [t["status"] for t in github_store.transitions("endtoend")] == [
        "accepted",
        "pr_open",
        "merged",
    ]


def test_closed_unmerged_is_rejected_with_the_reviewers_reason(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, reviewed: int
) -> None:
    review = {
        "action": "submitted",
        "review": {
            "state": "changes_requested",
            "body": "Enterprise needs a signed contract first",
            "user": {"login": "alice"},
        },
        "pull_request": pull_payload(fleet, reviewed, "x")["pull_request"],
        "repository": {"full_name": fleet.full_name},
    }
    assert post_github(github_intake, "pull_request_review", review).json["status"] == "processed"
    with fleet.client() as reviewer:
        reviewer.get_repo(fleet.full_name).get_pull(reviewed).edit(state="closed")
    closed = post_github(github_intake, "pull_request", pull_payload(fleet, reviewed, "closed"))
    assert closed.json["moved"] == [{"slug": "reviewed-co", "status": "rejected"}]
    last = github_store.transitions("reviewed-co")[-1]
    assert last["reason"] == "changes requested by alice: Enterprise needs a signed contract first"
    assert not github_store.slug_taken("reviewed-co")  # its name and seat are free again


def test_a_closing_comment_is_the_reason_and_without_one_the_closer_is_named(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, reviewed: int
) -> None:
    comment = {
        "action": "created",
        "issue": {
            "html_url": f"{fleet.base_url.removesuffix('/api/v3')}/{fleet.full_name}/pull/1",
            "pull_request": {"url": "..."},
        },
        "comment": {"body": "Duplicate of an existing customer", "user": {"login": "bob"}},
        "repository": {"full_name": fleet.full_name},
    }
    assert post_github(github_intake, "issue_comment", comment).json["status"] == "processed"
    with fleet.client() as reviewer:
        reviewer.get_repo(fleet.full_name).get_pull(reviewed).edit(state="closed")
    post_github(github_intake, "pull_request", pull_payload(fleet, reviewed, "closed", "bob"))
    assert github_store.transitions("reviewed-co")[-1]["reason"] == (
        "bob: Duplicate of an existing customer"
    )
    reopened = post_github(github_intake, "pull_request", pull_payload(fleet, reviewed, "reopened"))
    assert reopened.json["moved"] == [{"slug": "reviewed-co", "status": "pr_open"}]
    post_github(github_intake, "pull_request", pull_payload(fleet, reviewed, "closed", "carol"))
    assert (
        github_store.transitions("reviewed-co")[-1]["reason"] == "closed without merging by carol"
    )


def test_pull_requests_that_are_not_a_tenants_review_change_nothing(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, reviewed: int
) -> None:
    payload = pull_payload(fleet, reviewed, "closed")
    fork = json.loads(json.dumps(payload))
    fork["pull_request"]["head"]["repo"] = {"full_name": "mallory/fleet-state"}
    other_repo = {**payload, "repository": {"full_name": "someone/else"}}
    unknown = json.loads(json.dumps(payload))
    unknown["pull_request"]["head"]["ref"] = "tenant/never-signed-up"
    not_review = json.loads(json.dumps(payload))
    not_review["pull_request"]["head"]["ref"] = "renovate/flake-lock"
    for case in (fork, other_repo, unknown, not_review):
        answer = post_github(github_intake, "pull_request", case)
        assert (answer.status_code, answer.json["status"]) == (200, "ignored")
    assert github_store.last_status("reviewed-co") == "pr_open"


# --- deploys --------------------------------------------------------------------------------


def test_deployment_statuses_move_listed_tenants_to_deployed_and_the_probe_says_live(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, committed: str
) -> None:
    listed = {"hosts": ["web-1"], "tenants": {"direct-a": "https://direct-a.tenants.example.com"}}
    started = post_github(
        github_intake,
        "deployment_status",
        deployment_payload(fleet, committed, "in_progress", listed),
    )
    assert started.json["moved"] == [{"slug": "direct-a", "status": "deploying"}]
    live = deployment_payload(
        fleet, committed, "success", json.dumps(listed), environment_url="https://fleet.example"
    )
    # A deploy that went well is "deployed": only the probe of its URL says "live".
    assert post_github(github_intake, "deployment_status", live).json["moved"] == [
        {"slug": "direct-a", "status": "deployed"}
    ]
    assert github_store.transitions("direct-a")[-1]["url"] == "https://direct-a.tenants.example.com"
    late = deployment_payload(fleet, committed, "in_progress", listed)
    assert post_github(github_intake, "deployment_status", late).json["moved"] == []
    assert github_store.last_status("direct-a") == "deployed"  # never back along the path
    assert github_store.last_status("direct-b") == "committed"  # not listed


def test_a_deployment_listing_nobody_concerns_its_commits_tenants(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, committed: str
) -> None:
    failed = deployment_payload(
        fleet, committed, "failure", description="web-2 unreachable", log_url="https://ci/run/9"
    )
    answer = post_github(github_intake, "deployment_status", failed)
    assert {m["slug"] for m in answer.json["moved"]} == {"direct-a", "direct-b"}
    assert github_store.transitions("direct-b")[-1]["reason"] == (
        "deployment failure: web-2 unreachable (https://ci/run/9)"
    )
    queued = post_github(
        github_intake, "deployment_status", deployment_payload(fleet, committed, "queued")
    )
    assert queued.json["status"] == "ignored"


def test_the_deploy_workflow_marks_its_commits_tenants_deploying_or_failed(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, committed: str
) -> None:
    def run(action: str, *, name: str = "deploy", branch: str = "main", conclusion: Any = None):
        return {
            "action": action,
            "workflow_run": {
                "name": name,
                "path": f".github/workflows/{name}.yml",
                "head_branch": branch,
                "head_sha": committed,
                "conclusion": conclusion,
                "html_url": "https://github.example/runs/1",
            },
            "repository": {"full_name": fleet.full_name},
        }

    for ignored in (run("in_progress", name="test"), run("in_progress", branch="feature")):
        assert post_github(github_intake, "workflow_run", ignored).json["status"] == "ignored"
    started = post_github(github_intake, "workflow_run", run("in_progress"))
    assert {m["status"] for m in started.json["moved"]} == {"deploying"}
    assert len(started.json["moved"]) == 2
    post_github(github_intake, "workflow_run", run("completed", conclusion="failure"))
    assert github_store.transitions("direct-a")[-1]["reason"] == (
        "deploy workflow failure: https://github.example/runs/1"
    )


def test_the_payload_gitops_bot_deploy_sends_is_the_one_read(
    github_intake: FlaskClient, github_store: Store, fleet: FakeGitHub, committed: str
) -> None:
    """The contract between `gitops-bot deploy` and this webhook, checked end to end."""
    from gitops_bot.github.deployments import NewTenant, payload  # noqa: PLC0415

    sent = payload(
        head=committed,
        engine="nixops",
        hosts={"web-1": None},
        new_tenants=[NewTenant("direct-a", "web-1", "https://direct-a.tenants.example.com")],
    )
    live = deployment_payload(fleet, committed, "success", sent, environment_url="https://x")
    assert post_github(github_intake, "deployment_status", live).json["moved"] == [
        {"slug": "direct-a", "status": "deployed"}
    ]
    assert github_store.transitions("direct-a")[-1]["url"] == "https://direct-a.tenants.example.com"
    assert github_store.last_status("direct-b") == "committed"  # not a new tenant of this deploy
