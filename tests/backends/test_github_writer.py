"""The writer end to end on the fake GitHub: bursts within GitHub's limits, and every fault."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.base import BackendError
from gitops_bot.backends.github import TRUST_OWN_WRITE, GitHubRepo
from gitops_bot.config import Settings
from gitops_bot.store import notices
from gitops_bot.store.queue import Store
from gitops_bot.writer.messages import TRAILER
from gitops_bot.writer.writer import Writer
from helpers import ADMIN_TOKEN, FakeGitHubClock, lost_database, post_event, signup, with_capacity


def trailers(gh: FakeGitHub, ref: str = "main") -> list[str]:
    return [
        line.removeprefix(f"{TRAILER}: ")
        for message in gh.commit_messages(ref)
        for line in message.splitlines()
        if line.startswith(f"{TRAILER}: ")
    ]


def tenant_slugs(gh: FakeGitHub, ref: str = "main") -> set[str]:
    return {
        path.removeprefix("tenants/").removesuffix(".json")
        for path in gh.files(ref)
        if path.startswith("tenants/") and path != "tenants/tenant.schema.json"
    }


def drain(writer: Writer, store: Store, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not store.pending_count():
            return
        writer.drain_once()
    raise AssertionError(f"{store.pending_count()} events still pending")


@pytest.fixture
def roomy(fleet: FakeGitHub, github_writer: Writer) -> None:
    """The operator gave every host room for a burst."""
    inventory = fleet.read_file("nix/inventory.json")
    assert inventory is not None
    fleet.push_foreign_commit("main", {"nix/inventory.json": with_capacity(inventory, 400)})
    github_writer.head()


def test_burst_of_200_signups_lands_in_few_commits_within_the_limits(
    roomy: None,
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    waves: Iterator[list[str]] = iter([[f"burst-{w}-{n}" for n in range(10)] for w in range(20)])

    def signups_arrive() -> None:
        for slug in next(waves, []):
            assert post_event(github_intake, signup(slug, plan="free")).status_code == 202

    # Signups keep arriving while the writer waits on the governor's clock.
    github_clock.while_sleeping.append(signups_arrive)
    commits_before = len(fleet.commit_messages())
    signups_arrive()
    drain(github_writer, github_store)
    while (wave := next(waves, None)) is not None:  # whatever arrived after the last wait
        for slug in wave:
            post_event(github_intake, signup(slug, plan="free"))
        drain(github_writer, github_store)

    landed = {f"burst-{w}-{n}" for w in range(20) for n in range(10)}
    assert landed <= tenant_slugs(fleet)
    assert len(trailers(fleet)) == len(set(trailers(fleet))) == 200
    commits = len(fleet.commit_messages()) - commits_before
    assert commits <= 25
    assert fleet.violations == []
    assert fleet.max_content_writes_per_minute() <= 60
    writes = [r for r in fleet.requests if r.content_creating]
    assert len(writes) <= 3 * commits  # a tree, a commit and a ref update per batch


WRITE_KINDS = {
    "tree": ("POST", r"/git/trees$"),
    "commit": ("POST", r"/git/commits$"),
    "ref update": ("PATCH", r"/git/refs/heads/"),
    "ref creation": ("POST", r"/git/refs$"),
    "pull request": ("POST", r"/pulls$"),
    "labels": ("POST", r"/labels$"),
    "reviewers": ("POST", r"/requested_reviewers$"),
}


@pytest.mark.parametrize("outcome", ["refused", "applied"])
@pytest.mark.parametrize("kind", sorted(WRITE_KINDS))
def test_a_5xx_on_any_write_is_retried_without_doubling_anything(
    kind: str,
    outcome: str,
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    fleet: FakeGitHub,
) -> None:
    method, path = WRITE_KINDS[kind]
    # "applied": GitHub made the change, then the answer was lost (a 502 on the way back).
    applied = outcome == "applied"
    rule = fleet.faults.fail_next(1, status=502, methods=[method], path=path, applied=applied)
    post_event(github_intake, signup("direct-one", plan="pro"))
    post_event(github_intake, signup("reviewed-one", plan="enterprise"))
    drain(github_writer, github_store)

    assert rule.fired == 1
    assert "direct-one" in tenant_slugs(fleet)
    assert trailers(fleet).count(github_store.transitions("direct-one")[0]["event_id"]) == 1
    (pull,) = fleet.pulls
    assert (pull.head_ref, pull.labels, pull.requested_reviewers) == (
        "tenant/reviewed-one",
        ["tenant"],
        ["alice"],
    )
    assert github_store.last_status("reviewed-one") == "pr_open"
    assert fleet.violations == []


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_is_waited_out_as_retry_after_says(
    status: int,
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    fleet.faults.secondary_limit_next(1, status=status, retry_after=90, path=r"/git/trees$")
    accepted_meanwhile = []

    def signup_arrives() -> None:
        if not accepted_meanwhile:
            answer = post_event(github_intake, signup("meanwhile", plan="pro"))
            accepted_meanwhile.append(answer.status_code)

    github_clock.while_sleeping.append(signup_arrives)
    post_event(github_intake, signup("limited", plan="pro"))
    drain(github_writer, github_store)

    trees = [r for r in fleet.requests if r.path.endswith("/git/trees")]
    assert [r.status for r in trees][:2] == [status, 201]
    assert trees[1].time - trees[0].time >= 90  # on the fake's clock, which the governor moved
    assert accepted_meanwhile == [202]  # intake never waits for GitHub
    assert {"limited", "meanwhile"} <= tenant_slugs(fleet)
    assert fleet.violations == []
    # /metrics sees the requests and the wait, counted in the writer's process.
    scraped = github_intake.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    text = scraped.get_data(as_text=True)
    assert 'gitops_bot_github_requests_total{kind="write"}' in text
    waits = [
        line
        for line in text.splitlines()
        if line.startswith("gitops_bot_github_rate_limit_wait_seconds_total")
    ]
    assert float(waits[0].split()[-1]) >= 90


def test_a_budget_spent_elsewhere_is_waited_out_until_the_reset(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    fleet.settings.primary_limit = 200
    with fleet.client() as other:  # another program with the bot's token spends the budget
        repo = other.get_repo(fleet.full_name)
        while other.requester.rate_limiting[0] != 0:
            repo.get_git_ref("heads/main")
    post_event(github_intake, signup("budget", plan="pro"))
    drain(github_writer, github_store)
    assert "budget" in tenant_slugs(fleet)
    refused = [r for r in fleet.requests if r.status == 403]
    assert len(refused) == 1  # one refusal, then a wait until the hour's reset
    assert max(github_clock.slept) > 3000


def test_a_low_budget_is_spread_so_that_it_never_runs_out(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    used = sum(r.principal == fleet.login for r in fleet.requests)
    fleet.settings.primary_limit = used + 10  # well inside the reserve the governor keeps
    for n in range(3):
        post_event(github_intake, signup(f"frugal-{n}", plan="pro"))
        drain(github_writer, github_store)
    assert {"frugal-0", "frugal-1", "frugal-2"} <= tenant_slugs(fleet)
    assert all(r.status != 403 for r in fleet.requests)
    assert sum(github_clock.slept) > 600


def test_a_concurrent_push_is_a_real_422_and_the_batch_is_rebuilt(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    rule = fleet.faults.concurrent_push_next(1, path=r"/git/refs/heads/main")
    post_event(github_intake, signup("raced", plan="pro"))
    drain(github_writer, github_store)
    assert rule.fired == 1
    assert "raced" in tenant_slugs(fleet)
    assert "Commit by another writer" in fleet.commit_messages()  # theirs survived
    assert [r.status for r in fleet.requests if r.method == "PATCH"][-2:] == [422, 200]


def test_a_lagging_read_after_our_commit_costs_no_failed_update(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    fleet: FakeGitHub,
    github_clock: FakeGitHubClock,
) -> None:
    post_event(github_intake, signup("first-batch", plan="pro"))
    drain(github_writer, github_store)
    github_clock.advance(TRUST_OWN_WRITE + 1)  # the writer reads the ref again, and GitHub lags
    rule = fleet.faults.stale_read_next(1, path=r"/git/ref/heads/main")
    post_event(github_intake, signup("second-batch", plan="pro"))
    drain(github_writer, github_store)
    assert rule.fired == 1
    assert {"first-batch", "second-batch"} <= tenant_slugs(fleet)
    assert all(r.status == 200 for r in fleet.requests if r.method == "PATCH")


def test_reads_that_fail_are_retried(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    rule = fleet.faults.fail_next(2, status=503, methods=["GET"], path=r"/git/ref/")
    post_event(github_intake, signup("read-retry", plan="pro"))
    drain(github_writer, github_store)
    assert rule.fired == 2
    assert "read-retry" in tenant_slugs(fleet)


def test_github_down_keeps_events_queued_until_it_is_back(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    post_event(github_intake, signup("patient-one", plan="pro"))
    fleet.faults.fail_randomly(1.0, status=502, methods=["POST"], path=r"/git/trees$")
    with pytest.raises(BackendError, match="kept failing"):
        github_writer.drain_once()
    assert github_store.pending_count() == 1
    fleet.faults.clear()
    drain(github_writer, github_store)
    assert "patient-one" in tenant_slugs(fleet)


def test_a_review_branch_whose_pull_request_failed_gets_one_on_the_next_round(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    """The branch is pushed, then opening its pull request keeps failing: the events stay
    queued, and the next round must open the pull request, not just see the branch."""
    fleet.faults.fail_randomly(1.0, status=502, methods=["POST"], path=r"/pulls$")
    post_event(github_intake, signup("unreviewed", plan="enterprise"))
    with pytest.raises(BackendError, match="kept failing"):
        github_writer.drain_once()
    assert fleet.branch_sha("tenant/unreviewed") is not None
    assert fleet.pulls == []
    assert github_store.pending_count() == 1
    fleet.faults.clear()
    drain(github_writer, github_store)
    (pull,) = fleet.pulls
    assert (pull.head_ref, pull.labels) == ("tenant/unreviewed", ["tenant"])
    last = github_store.transitions("unreviewed")[-1]
    assert (last["status"], last["url"].rsplit("/", 1)[-1]) == ("pr_open", str(pull.number))


def test_a_review_branch_that_landed_though_reported_failed_gets_its_pull_request(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    """Found by the GitHub-faults suite: the branch is created but the answer is lost, and
    the retry, now an update, meets another writer's push. The next attempt finds the
    signup on the branch already; it must still open the pull request."""
    fleet.faults.fail_next(1, status=503, methods=["POST"], path=r"/git/refs$", applied=True)
    fleet.faults.concurrent_push_next(1, path=r"/git/refs/heads/tenant/")
    post_event(github_intake, signup("half-pushed", plan="enterprise"))
    drain(github_writer, github_store)
    (pull,) = fleet.pulls
    assert pull.head_ref == "tenant/half-pushed"
    assert github_store.last_status("half-pushed") == "pr_open"


def test_the_commit_window_gathers_a_trickle_into_few_commits(
    github_intake: FlaskClient,
    github_settings: Settings,
    github_store: Store,
    github_state_repo: GitHubRepo,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    """Signups a second apart for a minute: one commit per 15 s window, not one per signup."""
    settings = github_settings.model_copy(update={"commit_window": 15.0})
    writer = Writer(
        store=github_store, repo=github_state_repo, settings=settings, clock=github_clock.monotonic
    )
    before = len(fleet.commit_messages())
    for n in range(60):
        post_event(github_intake, signup(f"trickle-{n:02d}", plan="pro"))
        writer.drain_once()
        github_clock.advance(1.0)
    github_clock.advance(15.0)
    drain(writer, github_store)
    assert {f"trickle-{n:02d}" for n in range(60)} <= tenant_slugs(fleet)
    assert len(fleet.commit_messages()) - before <= 5


def test_a_lost_database_finds_each_tenants_commit_by_its_event_trailer(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_settings: Settings,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    added: dict[str, str | None] = {}
    for slug in ("first-one", "second-one"):
        post_event(github_intake, signup(slug))
        github_writer.drain_once()
        added[slug] = fleet.branch_sha("main")
    assert len(set(added.values())) == len(added)
    with lost_database(github_settings) as (fresh, store):
        fleet.reset_log()
        repo = GitHubRepo.from_settings(fresh, clock=github_clock)
        Writer(store=store, repo=repo, settings=fresh).head()
        for slug, sha in added.items():
            (recovered,) = store.transitions(slug)
            assert (recovered["status"], recovered["commit_sha"]) == ("committed", sha)
        # The seed's tenants were added by no event: known to be there, not when.
        assert "commit_sha" not in store.transitions("acme")[0]
        listings = [r for r in fleet.requests if r.method == "GET" and r.path.endswith("/commits")]
        assert len(listings) == 1


def test_past_the_history_cap_tenants_are_recovered_without_their_commit_and_said_so(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_settings: Settings,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    post_event(github_intake, signup("long-ago"))
    github_writer.drain_once()
    acme = fleet.read_file("tenants/acme.json")
    assert acme is not None
    # A page of later commits to tenants/ (a hundred suspends and resumes of acme) buries it.
    states = [acme.replace(b'"active"', b'"suspended"'), acme]
    for n in range(100):
        fleet.push_foreign_commit("main", {"tenants/acme.json": states[n % 2]})
    post_event(github_intake, signup("recent-one"))
    github_writer.drain_once()
    with lost_database(github_settings) as (fresh, store):
        fleet.reset_log()
        repo = GitHubRepo.from_settings(fresh, clock=github_clock, history_pages=1)
        Writer(store=store, repo=repo, settings=fresh).head()
        (early,) = store.transitions("long-ago")
        assert early["status"] == "committed"
        assert "commit_sha" not in early  # recovered all the same, its commit unknown
        assert store.transitions("recent-one")[0]["commit_sha"] == fleet.branch_sha("main")
        listings = [r for r in fleet.requests if r.method == "GET" and r.path.endswith("/commits")]
        assert len(listings) == 1  # the cap held
        (notice,) = notices.current(store.connection)
    assert "the 100 newest commits touching tenants/" in notice
    assert "long-ago" in notice
    assert "recent-one" not in notice
    assert any("long-ago" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
