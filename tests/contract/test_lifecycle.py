"""A tenant's life after signup: suspend, resume, update, delete, and reviews, on real git."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.cli import main
from gitops_bot.config import Settings
from gitops_bot.policy import Policy
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import change, git, lost_database, post_event, signup, tenant_files


def statuses(store: Store, slug: str) -> list[str]:
    return [t["status"] for t in store.transitions(slug)]


@pytest.fixture
def live(client: FlaskClient, writer: Writer) -> str:
    """A tenant committed to main by a direct signup."""
    post_event(client, signup("lively", plan="pro"))
    writer.drain_once()
    return "lively"


def test_suspend_and_resume(
    client: FlaskClient, writer: Writer, store: Store, state_repo: Path, live: str
) -> None:
    answer = post_event(client, change("tenant.suspend", live, reason="unpaid invoice 1042"))
    assert answer.status_code == 202
    writer.drain_once()
    assert tenant_files(state_repo)[live]["state"] == "suspended"
    message = git(state_repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("Suspend 1 tenant: lively")
    assert "unpaid invoice 1042" in message
    post_event(client, change("tenant.resume", live, reason="paid"))
    writer.drain_once()
    assert tenant_files(state_repo)[live]["state"] == "active"
    assert statuses(store, live) == ["accepted", "committed", "suspended", "resumed"]


def test_suspending_twice_makes_no_empty_commit(
    client: FlaskClient, writer: Writer, state_repo: Path, live: str
) -> None:
    post_event(client, change("tenant.suspend", live, reason="first"))
    writer.drain_once()
    commits = git(state_repo, "rev-list", "--count", "main")
    post_event(client, change("tenant.suspend", live, reason="again"))
    writer.drain_once()
    assert git(state_repo, "rev-list", "--count", "main") == commits


def test_update_plan_and_domains(
    client: FlaskClient, writer: Writer, store: Store, state_repo: Path, live: str
) -> None:
    answer = post_event(
        client,
        change(
            "tenant.update",
            live,
            plan="enterprise",
            domains=["Shop.Lively.example", "a.lively.example"],
        ),
    )
    assert answer.status_code == 202
    writer.drain_once()
    file = tenant_files(state_repo)[live]
    assert file["plan"] == "enterprise"
    # New domains wait for their DNS proof (writer/verifier.py) before they are served.
    assert file["domains"] == []
    assert file["pendingDomains"] == ["a.lively.example", "shop.lively.example"]
    assert store.domain_owner("shop.lively.example") == live
    # A domain that belongs to someone else is a conflict, recorded and replayed.
    taken = post_event(
        client,
        change("tenant.update", "acme", domains=["shop.lively.example"]),
        event_id="msg_steal",
    )
    assert taken.status_code == 409
    assert taken.json["field"] == "data.domains"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"host": "web-2"}, "data.host"),
        ({"createdAt": "2020-01-01T00:00:00Z"}, "data.createdAt"),
        ({"origin": "msg_other"}, "data.origin"),
        ({"state": "suspended"}, "data.state"),
        ({"newSlug": "renamed"}, "data.newSlug"),
        ({"new_slug": "renamed"}, "data.new_slug"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "data.created_at"),
        ({"plan": "platinum"}, "data.plan"),
        ({}, "data"),
    ],
)
def test_update_refuses_immutable_and_invalid_fields(
    client: FlaskClient, store: Store, live: str, data: dict[str, Any], field: str
) -> None:
    answer = post_event(client, change("tenant.update", live, **data))
    assert answer.status_code == 422, answer.json
    assert answer.json["field"] == field
    assert store.pending_count() == 0


def test_reason_must_not_hold_an_email(client: FlaskClient, live: str) -> None:
    answer = post_event(client, change("tenant.suspend", live, reason="asked by jane@acme.example"))
    assert answer.status_code == 422
    assert answer.json["field"] == "data.reason"


def test_unknown_tenant_is_404(client: FlaskClient) -> None:
    answer = post_event(client, change("tenant.suspend", "nobody-here", reason="x"))
    assert answer.status_code == 404
    assert answer.json["field"] == "data.slug"


def test_delete_always_goes_through_review(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    live: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    post_event(client, change("tenant.delete", live, reason="contract ended"))
    writer.drain_once()
    assert live in tenant_files(state_repo)  # still on main
    assert live not in tenant_files(state_repo, "tenant/lively")
    assert statuses(store, live)[-1] == "pr_open"
    assert (
        main(["approve", live, "--reason", "ops lead", "--wait", "0"]) == 1
    )  # queued, not yet merged
    writer.drain_once()
    assert live not in tenant_files(state_repo)
    assert "tenant/lively" not in git(state_repo, "branch", "--list")
    assert statuses(store, live)[-1] == "deleted"
    assert not store.slug_taken(live)


@pytest.fixture
def reviewed_app(settings: Settings, state_repo: Path) -> Flask:
    return create_app(settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})}))


def test_enterprise_signup_waits_for_approval(
    reviewed_app: Flask,
    settings: Settings,
    writer: Writer,
    store: Store,
    state_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    assert post_event(client, signup("bigcorp", plan="enterprise")).status_code == 202
    assert post_event(client, signup("smallco", plan="free")).status_code == 202
    writer.drain_once()
    assert "smallco" in tenant_files(state_repo)
    assert "bigcorp" not in tenant_files(state_repo)
    assert tenant_files(state_repo, "tenant/bigcorp")["bigcorp"]["plan"] == "enterprise"
    assert statuses(store, "bigcorp") == ["accepted", "pr_open"]
    # The slug stays reserved while the review is open.
    assert post_event(client, signup("bigcorp", plan="free")).status_code == 409
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    assert main(["approve", "bigcorp", "--wait", "0"]) == 1
    writer.drain_once()
    assert "bigcorp" in tenant_files(state_repo)
    assert statuses(store, "bigcorp") == ["accepted", "pr_open", "merged"]
    merge = git(state_repo, "log", "-1", "--format=%P%n%s", "main").splitlines()
    assert len(merge[0].split()) == 2
    assert merge[1] == "Merge review tenant/bigcorp"


def test_redelivered_review_event_makes_no_second_commit(
    reviewed_app: Flask, settings: Settings, writer: Writer, state_repo: Path
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("twice", plan="enterprise"), event_id="msg_twice")
    writer.drain_once()
    post_event(client, signup("twice", plan="enterprise"), event_id="msg_twice")
    writer.drain_once()
    assert git(state_repo, "rev-list", "--count", "main..tenant/twice").strip() == "1"


def test_review_merged_elsewhere_is_noticed(
    reviewed_app: Flask,
    settings: Settings,
    writer: Writer,
    store: Store,
    state_repo: Path,
    tmp_path: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("outside", plan="enterprise"))
    writer.drain_once()
    # A reviewer merges the branch by hand (what a GitHub merge button does).
    reviewer = clone("reviewer.git")
    main_head = reviewer.snapshot("main")
    branch = reviewer.snapshot("tenant/outside")
    assert main_head is not None
    assert branch is not None
    content = reviewer.read_blobs([branch.files["tenants/outside.json"]])
    merged = reviewer.commit(
        [main_head.sha, branch.sha],
        {"tenants/outside.json": next(iter(content.values()))},
        "Merge\n",
    )
    assert reviewer.advance("main", merged)
    writer.head()
    assert statuses(store, "outside")[-1] == "merged"


def test_cli_suspend_goes_through_the_queue(
    settings: Settings,
    writer: Writer,
    store: Store,
    state_repo: Path,
    live: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    assert main(["tenants", "suspend", live, "--reason", "abuse report 77", "--wait", "0"]) == 1
    assert capsys.readouterr().out.startswith("202 ")
    writer.drain_once()
    assert tenant_files(state_repo)[live]["state"] == "suspended"
    assert main(["tenants", "suspend", "ghost-town", "--reason", "x", "--wait", "0"]) == 1
    assert "404" in capsys.readouterr().out
    assert main(["tenants", "update", live, "--reason", "x", "--plan", "Gold!"]) == 1
    assert "data.plan" in capsys.readouterr().err
    assert store.pending_count() == 0


def test_events_of_one_tenant_keep_their_order_across_lanes(
    reviewed_app: Flask, settings: Settings, writer: Writer, store: Store, state_repo: Path
) -> None:
    """A direct suspend queued behind a reviewed delete waits for it, not the other way round."""
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("ordered"))
    writer.drain_once()
    post_event(client, change("tenant.delete", "ordered", reason="bye"))
    post_event(client, change("tenant.suspend", "ordered", reason="meanwhile"))
    assert writer.drain_once() == 2
    assert store.pending_count() == 1  # the suspend waits for the next round
    writer.drain_once()
    assert tenant_files(state_repo)["ordered"]["state"] == "suspended"
    assert json.loads(git(state_repo, "show", "main:tenants/ordered.json"))["state"] == "suspended"


def test_a_change_to_a_tenant_in_review_joins_its_review(
    reviewed_app: Flask, settings: Settings, writer: Writer, store: Store, state_repo: Path
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("joined", plan="enterprise"))
    writer.drain_once()
    assert post_event(client, change("tenant.suspend", "joined", reason="hold")).status_code == 202
    writer.drain_once()
    assert tenant_files(state_repo, "tenant/joined")["joined"]["state"] == "suspended"
    assert git(state_repo, "rev-list", "--count", "main..tenant/joined").strip() == "2"


def test_a_direct_change_to_a_tenant_still_in_review_is_409(
    settings: Settings, state_repo: Path, writer: Writer
) -> None:
    policy = Policy(plans={"enterprise": "pr"}, events={"tenant.suspend": "direct"})
    client = create_app(settings.model_copy(update={"policy": policy})).test_client()
    writer.settings = settings.model_copy(update={"policy": policy})
    post_event(client, signup("pending", plan="enterprise"))
    writer.drain_once()
    answer = post_event(
        client, change("tenant.suspend", "pending", reason="x"), event_id="msg_early"
    )
    assert answer.status_code == 409
    assert "waiting for review" in answer.json["error"]


def test_history_tells_the_whole_story(
    reviewed_app: Flask,
    settings: Settings,
    writer: Writer,
    store: Store,
    state_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    post_event(client, signup("storied", plan="enterprise"), event_id="msg_story_signup")
    writer.drain_once()
    main(["approve", "storied", "--reason", "reviewed by the ops lead", "--wait", "0"])
    writer.drain_once()
    post_event(
        client,
        change("tenant.suspend", "storied", reason="chargeback"),
        event_id="msg_story_suspend",
    )
    writer.drain_once()  # enterprise changes are reviewed too
    main(["approve", "storied", "--wait", "0"])
    writer.drain_once()
    capsys.readouterr()
    assert main(["history", "storied", "--format", "json"]) == 0
    story = json.loads(capsys.readouterr().out)
    assert [c["review"] is not None for c in story] == [True, True]
    assert story[0]["events"][0] == "msg_story_signup"
    assert story[0]["approved"] == "reviewed by the ops lead"
    assert [r["status"] for r in story[0]["reports"]][:2] == ["pr_open", "merged"]
    assert story[1]["subject"] == "Merge review tenant/storied"
    assert story[1]["events"][0] == "msg_story_suspend"
    assert main(["history", "storied"]) == 0
    text = capsys.readouterr().out
    assert "approved  reviewed by the ops lead" in text
    assert main(["history", "never-existed"]) == 1


def test_a_crash_between_review_push_and_review_still_opens_it(
    reviewed_app: Flask, settings: Settings, writer: Writer, store: Store, state_repo: Path
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("crashy", plan="enterprise"))
    opened: list[str] = []
    real_open = writer.repo.open_review

    def die_before_review(review):  # type: ignore[no-untyped-def]
        raise SystemExit("killed after the push, before the review")

    writer.repo.open_review = die_before_review  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        writer.drain_once()
    assert "crashy" in tenant_files(state_repo, "tenant/crashy")
    assert store.pending_count() == 1

    def record(review):  # type: ignore[no-untyped-def]
        opened.append(review.branch)
        return real_open(review)

    writer.repo.open_review = record  # type: ignore[method-assign]
    writer.drain_once()
    assert opened == ["tenant/crashy"]
    assert store.pending_count() == 0
    assert statuses(store, "crashy") == ["accepted", "pr_open"]
    assert git(state_repo, "rev-list", "--count", "main..tenant/crashy").strip() == "1"


def test_a_slug_freed_by_a_closed_review_can_be_reviewed_again(
    reviewed_app: Flask, settings: Settings, writer: Writer, store: Store, state_repo: Path
) -> None:
    client = reviewed_app.test_client()
    writer.settings = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    post_event(client, signup("second-try", plan="enterprise"), event_id="msg_first_try")
    writer.drain_once()
    # The reviewer closes it unmerged (what /webhooks/github records), freeing the slug.
    with store.transaction():
        store.add_transition("second-try", "rejected", reason="not this quarter")
    store.release("second-try")
    assert (
        post_event(
            client, signup("second-try", plan="enterprise"), event_id="msg_second_try"
        ).status_code
        == 202
    )
    writer.drain_once()
    branch_file = tenant_files(state_repo, "tenant/second-try")["second-try"]
    assert branch_file["origin"] == "msg_second_try"
    assert statuses(store, "second-try")[-1] == "pr_open"


def test_an_open_review_is_recovered_when_the_database_is_lost(
    reviewed_app: Flask,
    settings: Settings,
    writer: Writer,
    clone: Callable[..., LocalGitRepo],
) -> None:
    client = reviewed_app.test_client()
    policy = Policy(plans={"enterprise": "pr"})
    writer.settings = settings.model_copy(update={"policy": policy})
    post_event(client, signup("pending", plan="enterprise", domain="portal.pending.example"))
    post_event(client, signup("direct", plan="free"))
    writer.drain_once()
    with lost_database(settings, policy=policy) as (fresh, store):
        recovering = Writer(store=store, repo=clone("fresh.git"), settings=fresh)
        recovering.head()
        assert statuses(store, "direct") == ["committed"]
        assert statuses(store, "pending") == ["pr_open"]
        assert store.transitions("pending")[0]["url"] == "tenant/pending"
        # Held for the reviewer: no signup takes the name, the domain or another seat.
        assert store.tenant("pending") is not None
        assert store.domain_owner("portal.pending.example") == "pending"
        assert not store.on_branch("pending")
        # The reviewer merges: the recovered review ends as any other does.
        reviewer = clone("reviewer.git")
        branch, main_head = reviewer.snapshot("tenant/pending"), reviewer.snapshot("main")
        assert branch is not None
        assert main_head is not None
        path = "tenants/pending.json"
        (content,) = reviewer.read_blobs([branch.files[path]]).values()
        merged = reviewer.commit([main_head.sha, branch.sha], {path: content}, "Merge\n")
        assert reviewer.advance("main", merged)
        recovering.head()
        assert statuses(store, "pending") == ["pr_open", "merged"]
        assert store.on_branch("pending")
