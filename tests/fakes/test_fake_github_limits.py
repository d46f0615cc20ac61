"""The fake GitHub's authentication, rate limits, secondary limits and fault injection."""

from __future__ import annotations

import time

import pytest
import requests
from github import (
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    GithubIntegration,
    GithubRetry,
    RateLimitExceededException,
)

from fakegithub import FakeGitHub
from helpers import rsa_key_pair


def test_every_call_needs_a_valid_token(fake_github):
    url = f"{fake_github.base_url}/repos/{fake_github.full_name}"
    anonymous = requests.get(url, timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Requires authentication"
    assert anonymous.headers["x-ratelimit-limit"] == "60"

    with (
        fake_github.client("ghp_not-a-real-token") as client,
        pytest.raises(BadCredentialsException),
    ):
        client.get_repo(fake_github.full_name)

    short_lived = fake_github.add_token(ttl=60)
    with fake_github.client(short_lived) as client:
        assert client.get_repo(fake_github.full_name).name == "fleet-state"
        fake_github.advance_time(61)
        with pytest.raises(BadCredentialsException):
            client.get_repo(fake_github.full_name)


def test_rate_limit_headers_count_down_and_rate_limit_is_free(fake_github, github_client):
    github_client.get_repo(fake_github.full_name)
    first = github_client.rate_limiting
    github_client.get_repo(fake_github.full_name)
    second = github_client.rate_limiting
    assert first == (4999, 5000)
    assert second == (4998, 5000)

    overview = github_client.get_rate_limit()
    assert overview.resources.core.remaining == 4998  # asking does not count
    assert overview.resources.core.used == 2

    response = requests.get(
        f"{fake_github.base_url}/repos/{fake_github.full_name}",
        headers={"Authorization": f"token {fake_github.token}"},
        timeout=5,
    )
    assert response.headers["x-ratelimit-resource"] == "core"
    assert response.headers["x-ratelimit-used"] == "3"
    assert int(response.headers["x-ratelimit-reset"]) > time.time()


def test_exhausted_primary_budget_is_a_403_with_nothing_remaining(fake_github, github_client):
    fake_github.settings.primary_limit = 2
    repo = github_client.get_repo(fake_github.full_name)
    repo.get_git_ref("heads/main")
    with pytest.raises(RateLimitExceededException) as raised:
        repo.get_git_ref("heads/main")
    assert raised.value.status == 403
    assert raised.value.headers["x-ratelimit-remaining"] == "0"
    assert raised.value.data["message"].startswith("API rate limit exceeded")

    fake_github.advance_time(3601)  # the window resets an hour after it opened
    assert repo.get_git_ref("heads/main").object.sha == fake_github.branch_sha("main")


def test_going_over_the_content_limit_is_recorded_as_a_violation(fake_github, github_client):
    fake_github.settings.content_per_minute = 5
    repo = github_client.get_repo(fake_github.full_name)
    for n in range(5):
        repo.create_git_blob(f"blob {n}", "utf-8")
    assert fake_github.violations == []

    with pytest.raises(RateLimitExceededException) as raised:
        repo.create_git_blob("one too many", "utf-8")
    assert raised.value.status == 403
    assert raised.value.data["message"].startswith("You have exceeded a secondary rate limit")
    assert 1 <= int(raised.value.headers["retry-after"]) <= 60

    (violation,) = fake_github.violations
    assert (violation.window, violation.limit, violation.method) == ("minute", 5, "POST")
    assert fake_github.max_content_writes_per_minute() == 6

    repo.get_git_ref("heads/main")  # reads are not content creation
    fake_github.advance_time(61)
    repo.create_git_blob("after the minute", "utf-8")
    assert len(fake_github.violations) == 1


def test_hourly_content_limit(fake_github, github_client):
    fake_github.settings.content_per_hour = 3
    repo = github_client.get_repo(fake_github.full_name)
    for n in range(3):
        repo.create_git_blob(f"{n}", "utf-8")
        fake_github.advance_time(30)
    with pytest.raises(RateLimitExceededException):
        repo.create_git_blob("fourth", "utf-8")
    assert fake_github.violations[0].window == "hour"


def test_request_log_tells_content_creation_apart(fake_github, github_client):
    fake_github.reset_log()
    repo = github_client.get_repo(fake_github.full_name)
    repo.create_git_blob("x", "utf-8")
    log = [
        (r.method, r.path.rsplit("/", 2)[-2:], r.status, r.content_creating)
        for r in fake_github.requests
    ]
    assert log == [
        ("GET", ["acme-ops", "fleet-state"], 200, False),
        ("POST", ["git", "blobs"], 201, True),
    ]


def test_injected_5xx_is_seen_raw_without_retry_and_absorbed_with_it(fake_github, github_client):
    rule = fake_github.faults.fail_next(1, status=502, methods=["GET"], path=r"/git/ref/")
    repo = github_client.get_repo(fake_github.full_name)
    with pytest.raises(GithubException) as raised:
        repo.get_git_ref("heads/main")
    assert raised.value.status == 502
    assert rule.fired == 1

    fake_github.faults.fail_next(2, status=503, path=r"/git/ref/")
    retrying = GithubRetry(total=3, backoff_factor=0)
    with fake_github.client(retry=retrying) as client:
        assert (
            client.get_repo(fake_github.full_name).get_git_ref("heads/main").ref
            == "refs/heads/main"
        )
    statuses = [r.status for r in fake_github.requests if "/git/ref/" in r.path]
    assert statuses == [502, 503, 503, 200]


def test_applied_fault_makes_the_change_but_reports_failure(fake_github, github_client):
    repo = github_client.get_repo(fake_github.full_name)
    fake_github.faults.fail_next(1, status=502, methods=["POST"], path=r"/git/refs$", applied=True)
    with pytest.raises(GithubException) as raised:
        repo.create_git_ref("refs/heads/ghost", fake_github.branch_sha("main"))
    assert raised.value.status == 502
    assert fake_github.branch_sha("ghost") == fake_github.branch_sha("main")


def test_injected_secondary_limit_carries_retry_after_and_is_no_violation(
    fake_github, github_client
):
    fake_github.faults.secondary_limit_next(1, status=429, retry_after=7, methods=["POST"])
    repo = github_client.get_repo(fake_github.full_name)
    with pytest.raises(GithubException) as raised:
        repo.create_git_blob("x", "utf-8")
    assert raised.value.status == 429
    assert raised.value.headers["retry-after"] == "7"
    assert fake_github.violations == []
    assert fake_github.requests[-1].fault == "secondary_limit"


def test_random_faults_repeat_with_the_same_seed(tmp_path):
    def outcomes(seed, where):
        with FakeGitHub(tmp_path / where, seed=seed) as gh:
            gh.seed({"a.json": b"{}\n"})
            gh.faults.fail_randomly(0.5, status=503, path=r"/git/ref/")
            with gh.client() as client:
                repo = client.get_repo(gh.full_name)
                seen = []
                for _ in range(12):
                    try:
                        repo.get_git_ref("heads/main")
                        seen.append(200)
                    except GithubException as exc:
                        seen.append(exc.status)
                return seen

    first, again, other = outcomes(7, "a"), outcomes(7, "b"), outcomes(8, "c")
    assert first == again
    assert first != other
    assert {200, 503} == set(first)


def test_latency_fault_slows_only_matching_requests(fake_github, github_client):
    rule = fake_github.faults.add_latency(0.3, methods=["GET"], path=r"/git/ref/", n=1)
    repo = github_client.get_repo(fake_github.full_name)
    started = time.monotonic()
    repo.get_git_ref("heads/main")
    assert time.monotonic() - started >= 0.3  # a lower bound: a busy machine only adds to it
    repo.get_git_ref("heads/main")
    # The second request went untouched: counted, not timed, so a busy machine can't fail it.
    assert rule.fired == 1
    faults = [r.fault for r in fake_github.requests if "/git/ref/" in r.path]
    assert faults[-2:] == ["latency", None]


def test_app_installation_token_flow(fake_github, app_key):
    private, public = app_key
    fake_github.register_app(4242, public, installation_id=77)
    auth = Auth.AppAuth(4242, private)
    with GithubIntegration(auth=auth, base_url=fake_github.base_url, retry=None) as integration:
        installation = integration.get_repo_installation("acme-ops", "fleet-state")
        assert (installation.id, installation.app_id) == (77, 4242)
        token = integration.get_access_token(77)
        assert token.token.startswith("ghs_")
        assert token.expires_at.timestamp() > time.time() + 3500

        with integration.get_github_for_installation(77) as client:
            repo = client.get_repo(fake_github.full_name)
            pr_author = repo.create_git_blob("x", "utf-8")
            assert pr_author.sha
        assert fake_github.requests[-1].principal == "gitops-bot[bot]"

    with Github(base_url=fake_github.base_url, auth=Auth.Token(token.token), retry=None) as client:
        fake_github.advance_time(3601)
        with pytest.raises(BadCredentialsException):
            client.get_repo(fake_github.full_name)


def test_app_jwt_signed_by_another_key_is_refused(fake_github, app_key):
    _, public = app_key
    fake_github.register_app(4242, public, installation_id=77)
    stranger, _ = rsa_key_pair()
    with (
        GithubIntegration(
            auth=Auth.AppAuth(4242, stranger), base_url=fake_github.base_url, retry=None
        ) as integration,
        pytest.raises(GithubException) as raised,
    ):
        integration.get_access_token(77)
    assert raised.value.status == 401
    assert raised.value.data["message"] == "A JSON web token could not be decoded"
