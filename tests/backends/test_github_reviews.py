"""Pull requests for reviewed changes: one per tenant, described, asked for, and auto-merged."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.github import GitHubRepo
from gitops_bot.config import Settings
from gitops_bot.store.queue import Answer, Store
from gitops_bot.writer.writer import Writer
from helpers import FakeGitHubClock, lost_database, post_event, signup


def writer_with(settings: Settings, store: Store, clock: FakeGitHubClock, **changes: Any) -> Writer:
    changed = settings.model_copy(update=changes)
    repo = GitHubRepo.from_settings(changed, clock=clock)
    return Writer(store=store, repo=repo, settings=changed)


def creations(gh: FakeGitHub) -> int:
    return sum(r.method == "POST" and r.path.endswith("/pulls") for r in gh.requests)


def test_reviewed_plan_opens_a_described_pull_request(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    before = fleet.branch_sha("main")
    assert post_event(github_intake, signup("bigcorp", plan="enterprise")).status_code == 202
    assert post_event(github_intake, signup("smallco", plan="pro")).status_code == 202
    github_writer.drain_once()

    (pull,) = fleet.pulls
    assert (pull.head_ref, pull.base_ref, pull.state) == ("tenant/bigcorp", "main", "open")
    assert pull.title == "Add 1 tenant: bigcorp"
    assert '"plan": "enterprise"' in pull.body
    # The plan, from nix/ as the main branch has it: what merging starts, and nothing else.
    assert "evaluated nix/ at both revisions" in pull.body
    assert "| added | `bigcorp` |" in pull.body
    units = (
        "tenant-app@bigcorp.service",
        "tenant-app@bigcorp.socket",
        "tenant-db@bigcorp.service",
        "tenant-route@bigcorp.service",
    )
    assert f"| start | {', '.join(f'`{u}`' for u in units)} |" in pull.body
    assert "| restart | - |" in pull.body
    assert "| nginx | unchanged |" in pull.body
    assert "smallco" not in pull.body.partition("## What merging deploys")[2]
    assert (pull.labels, pull.requested_reviewers, pull.requested_teams) == (
        ["tenant"],
        ["alice"],
        ["ops"],
    )
    last = github_store.transitions("bigcorp")[-1]
    html = fleet.base_url.removesuffix("/api/v3")
    assert (last["status"], last["url"]) == ("pr_open", f"{html}/{fleet.full_name}/pull/1")
    files = fleet.files()
    assert "tenants/bigcorp.json" not in files  # waits for the reviewer
    assert "tenants/smallco.json" in files  # pro goes straight in
    assert fleet.branch_sha("main") != before


def test_redelivered_signup_opens_no_second_pull_request(
    github_intake: FlaskClient, github_writer: Writer, fleet: FakeGitHub
) -> None:
    for _ in range(2):
        post_event(github_intake, signup("twice", plan="enterprise"), event_id="msg_twice")
        github_writer.drain_once()
    assert len(fleet.pulls) == 1
    assert len(fleet.commit_messages("tenant/twice")) == len(fleet.commit_messages("main")) + 1


def test_a_later_change_updates_the_open_pull_request(
    github_intake: FlaskClient, github_writer: Writer, github_store: Store, fleet: FakeGitHub
) -> None:
    post_event(github_intake, signup("evolving", plan="enterprise"))
    github_writer.drain_once()
    fleet.reset_log()
    with github_store.transaction():
        github_store.record_event(
            event_id="msg_update_evolving",
            event_type="tenant.update",
            body_sha256="0" * 64,
            answer=Answer(202, {}),
            status="pending",
            slug="evolving",
            op="update",
            content=json.dumps({"customerRef": "cus_77"}),
            delivery="pr",
        )
    github_writer.drain_once()

    (pull,) = fleet.pulls
    assert creations(fleet) == 0
    assert "tenant.update evolving" in pull.body
    assert (
        json.loads(fleet.read_file("tenants/evolving.json", "tenant/evolving") or b"{}")[
            "customerRef"
        ]
        == "cus_77"
    )
    # Labels and the reviewer were there already: not asked again.
    assert not any(r.path.endswith(("/labels", "/requested_reviewers")) for r in fleet.requests)


def test_a_lost_answer_to_opening_it_does_not_open_a_second(
    github_intake: FlaskClient, github_writer: Writer, fleet: FakeGitHub
) -> None:
    fleet.faults.fail_next(1, status=502, methods=["POST"], path=r"/pulls$", applied=True)
    post_event(github_intake, signup("lost-answer", plan="enterprise"))
    github_writer.drain_once()
    assert len(fleet.pulls) == 1
    assert creations(fleet) == 2  # the retry was told "already exists", and found it
    assert fleet.pulls[0].labels == ["tenant"]


def test_auto_merge_waits_for_the_approval(
    github_intake: FlaskClient,
    github_settings: Settings,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    fleet.settings.required_approvals = 1
    writer = writer_with(github_settings, github_store, github_clock, auto_merge=True)
    post_event(github_intake, signup("patient", plan="enterprise"))
    writer.drain_once()
    (pull,) = fleet.pulls
    assert pull.auto_merge is not None
    assert pull.state == "open"

    fleet.approve(pull.number, "alice")
    assert fleet.pull(pull.number).merged
    writer.head()  # the writer sees the tenant arrive on main
    assert github_store.last_status("patient") == "merged"


def test_auto_merge_of_a_mergeable_pull_request_merges_it_now(
    github_intake: FlaskClient,
    github_settings: Settings,
    github_store: Store,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    writer = writer_with(
        github_settings, github_store, github_clock, auto_merge=True, merge_method="squash"
    )
    post_event(github_intake, signup("eager", plan="enterprise"))
    writer.drain_once()
    (pull,) = fleet.pulls
    assert pull.merged
    assert fleet.read_file("tenants/eager.json") is not None
    assert any(r.path.endswith("/graphql") for r in fleet.requests)  # asked first, then merged


def test_a_reviewer_who_cannot_review_leaves_the_pull_request_standing(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    fleet: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fleet.settings.collaborators = frozenset({"bob"})
    with caplog.at_level(logging.WARNING):
        post_event(github_intake, signup("unreviewed", plan="enterprise"))
        github_writer.drain_once()
    (pull,) = fleet.pulls
    assert pull.labels == ["tenant"]
    assert github_store.last_status("unreviewed") == "pr_open"
    assert "pull request #1" in caplog.text


def test_open_pull_requests_are_recovered_when_the_database_is_lost(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_settings: Settings,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
) -> None:
    post_event(github_intake, signup("waiting", plan="enterprise"))
    github_writer.drain_once()
    (pull,) = fleet.pulls
    with lost_database(github_settings) as (fresh, store):
        fleet.reset_log()
        writer_with(fresh, store, github_clock).head()
        (recovered,) = store.transitions("waiting")
        html = fleet.base_url.removesuffix("/api/v3")
        assert (recovered["status"], recovered["url"]) == (
            "pr_open",
            f"{html}/{fleet.full_name}/pull/{pull.number}",
        )
        assert store.tenant("waiting") is not None
        assert not store.on_branch("waiting")
        listings = [r for r in fleet.requests if r.method == "GET" and r.path.endswith("/pulls")]
        assert len(listings) == 1
