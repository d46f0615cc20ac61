"""The writer's last veto: nix/ of the tree about to be committed, for the hosts it touches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from nix_helpers import needs_nix

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.policy import Policy
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.hostcheck import HostsBroken
from gitops_bot.writer.writer import Writer
from helpers import git, post_event, push_by_hand, repo_for, signup, tenant_files

pytestmark = needs_nix

NAMES = "nix/lib/names.nix"
CHECKS = "nix/lib/checks.nix"


def tamper(state_repo: Path, clone: Callable[..., LocalGitRepo], path: str, old: str, new: str):
    """Push a nix/ whose rules differ from the checker's, as an operator's edit might."""
    text = git(state_repo, "show", f"main:{path}")
    assert old in text
    push_by_hand(clone(), {path: text.replace(old, new).encode()})


def host_refuses(
    state_repo: Path, clone: Callable[..., LocalGitRepo], slug: str, reason: str
) -> None:
    """A nix/ that refuses one slug, with `reason`, where the checker lets it through."""
    check = "    else if slug != fileSlug then"
    tamper(state_repo, clone, CHECKS, check, f'    else if slug == "{slug}" then\n'
           f'      fail "{reason}"\n{check}')  # fmt: skip


def test_a_name_the_module_would_share_fails_the_newcomer_naming_the_other(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    # A naming bug: user names keep one byte of the slug, so alpha-two, placed on web-1
    # (alpha-one went to web-2, the emptier host), meets acme there.
    tamper(
        state_repo,
        clone,
        NAMES,
        'if stringLength slug <= 24 then "tenant-${slug}"',
        'if true then "tenant-${substring 0 1 slug}"',
    )
    post_event(client, signup("alpha-one"))
    writer.drain_once()
    post_event(client, signup("alpha-two"))
    post_event(client, signup("bravo-ok"))
    writer.drain_once()
    files = tenant_files(state_repo)
    assert {"alpha-one", "bravo-ok"} <= set(files)
    assert "alpha-two" not in files
    last = store.transitions("alpha-two")[-1]
    assert last["status"] == "failed"
    # Every namespace the user name reaches: the group, the role and the database too.
    assert last["reason"] == "; ".join(
        f"on host web-1, tenants/alpha-two.json would share {space} name tenant-a with "
        "tenants/acme.json"
        for space in ("groups", "postgresqlDatabases", "postgresqlRoles", "users")
    )


def test_an_evaluation_error_that_names_the_file_fails_that_event_only(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    host_refuses(state_repo, clone, "forbidden", "refused by the host")
    post_event(client, signup("forbidden"))
    post_event(client, signup("welcome"))
    writer.drain_once()
    files = tenant_files(state_repo)
    assert "welcome" in files
    assert "forbidden" not in files
    reason = store.transitions("forbidden")[-1]["reason"]
    assert "tenants/forbidden.json: refused by the host" in reason


def test_a_branch_whose_nix_does_not_evaluate_holds_every_event(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    tamper(state_repo, clone, NAMES, "naming = 2;", "naming = 2 +;")
    post_event(client, signup("patient"))
    with pytest.raises(HostsBroken, match="does not evaluate on the branch"):
        writer.drain_once()
    assert "patient" not in tenant_files(state_repo)
    assert store.pending_count() == 1  # still queued: it lands once nix/ is mended


def test_reviewed_events_are_vetoed_too(
    settings: Settings,
    writer: Writer,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    host_refuses(state_repo, clone, "needs-review", "no")
    reviewed = settings.model_copy(update={"policy": Policy(plans={"enterprise": "pr"})})
    client = create_app(reviewed).test_client()
    assert post_event(client, signup("needs-review", plan="enterprise")).status_code == 202
    writer.drain_once()
    assert "tenant/needs-review" not in git(state_repo, "branch", "--list")
    assert "tenants/needs-review.json: no" in store.transitions("needs-review")[-1]["reason"]


def test_without_the_setting_nothing_is_evaluated(
    client: FlaskClient,
    settings: Settings,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    tamper(state_repo, clone, NAMES, "naming = 2;", "naming = 2 +;")
    unchecked = settings.model_copy(update={"host_check": False})
    repo = repo_for(unchecked)
    try:
        writer = Writer(store=store, repo=repo, settings=unchecked)
        post_event(client, signup("trusted"))
        writer.drain_once()
    finally:
        repo.close()
    assert "trusted" in tenant_files(state_repo)
