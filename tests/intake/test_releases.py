"""Releases at intake: new tenants get the default, and a tenant.update moves one tenant."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.intake.releases import queue_release_change
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import (
    change,
    git,
    post_event,
    push_by_hand,
    repo_for,
    seed_state_repo,
    signup,
    tenant_files,
)

RELEASES = {"default": "2026.11", "known": ["2026.11", "2026.12"]}


def inventory_with(seed_dir: Path, releases: object) -> bytes:
    inventory = json.loads((seed_dir / "nix/inventory.json").read_text())
    if releases is None:
        inventory.pop("releases", None)
    else:
        inventory["releases"] = releases
    return (json.dumps(inventory, indent=2, sort_keys=True) + "\n").encode()


@pytest.fixture
def state_repo(settings: Settings, seed_dir: Path) -> Path:
    """The examples with two known releases; the examples themselves name none (legacy)."""
    (seed_dir / "nix/inventory.json").write_bytes(inventory_with(seed_dir, RELEASES))
    return seed_state_repo(settings)


def test_a_new_tenant_gets_the_default_release_and_moving_it_changes_no_file(
    client: FlaskClient,
    writer: Writer,
    state_repo: Path,
    seed_dir: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    assert post_event(client, signup("early-bird")).status_code == 202
    writer.drain_once()
    assert tenant_files(state_repo)["early-bird"]["release"] == "2026.11"
    moved = {"default": "2026.12", "known": ["2026.11", "2026.12"]}
    push_by_hand(clone(), {"nix/inventory.json": inventory_with(seed_dir, moved)})
    # Intake decides with the inventory the writer last read from the branch.
    writer.head()
    before = tenant_files(state_repo)
    assert post_event(client, signup("late-bird")).status_code == 202
    writer.drain_once()
    after = tenant_files(state_repo)
    assert after["late-bird"]["release"] == "2026.12"
    assert {slug: after[slug] for slug in before} == before
    assert "release" not in after["acme"]


def test_a_fleet_without_releases_writes_none(
    settings: Settings, seed_dir: Path, tmp_path: Path
) -> None:
    (seed_dir / "nix/inventory.json").write_bytes(inventory_with(seed_dir, None))
    remote = seed_state_repo(settings)
    client = create_app(settings).test_client()
    assert post_event(client, signup("plain")).status_code == 202
    with Store(settings.database_path) as store:
        repo = repo_for(settings)
        Writer(store=store, repo=repo, settings=settings).drain_once()
        repo.close()
    assert "release" not in tenant_files(remote)["plain"]


def test_an_update_moves_one_tenant_to_another_release(
    client: FlaskClient, writer: Writer, state_repo: Path
) -> None:
    before = tenant_files(state_repo)
    response = post_event(client, change("tenant.update", "acme", release="2026.12"))
    assert response.status_code == 202, response.json
    writer.drain_once()
    after = tenant_files(state_repo)
    assert after["acme"] == {**before["acme"], "release": "2026.12"}
    assert {s: t for s, t in after.items() if s != "acme"} == {
        s: t for s, t in before.items() if s != "acme"
    }


@pytest.mark.parametrize(
    ("release", "message"),
    [
        ("2027.01", "unknown release '2027.01' (one of nix/inventory.json's releases: "),
        ("../etc", "data.release: String should match pattern"),
    ],
)
def test_an_update_to_a_release_the_inventory_lacks_is_422(
    client: FlaskClient, store: Store, release: str, message: str
) -> None:
    response = post_event(client, change("tenant.update", "acme", release=release))
    assert response.status_code == 422
    assert response.json["field"] == "data.release"
    assert response.json["error"].startswith(message)
    assert store.pending_count() == 0


def test_an_update_that_changes_nothing_names_the_fields(client: FlaskClient) -> None:
    response = post_event(client, change("tenant.update", "acme"))
    assert response.status_code == 422
    assert "an update needs plan, domains or release" in response.json["error"]


def test_queue_release_change_goes_through_intake_and_the_writer(
    settings: Settings, store: Store, writer: Writer, state_repo: Path
) -> None:
    answer = queue_release_change(
        store, settings, slug="globex", release="2026.12", reason="wave 1 of 2026.12",
        event_id="ro_1_globex",
    )  # fmt: skip
    assert answer.status == 202
    # Asked again, as after a crash: the first answer, and still one event.
    again = queue_release_change(
        store, settings, slug="globex", release="2026.12", reason="wave 1 of 2026.12",
        event_id="ro_1_globex",
    )  # fmt: skip
    assert again == answer
    assert store.pending_count() == 1
    writer.drain_once()
    assert tenant_files(state_repo)["globex"]["release"] == "2026.12"
    message = git(state_repo, "log", "-1", "--format=%B", "main")
    assert "wave 1 of 2026.12" in message
    assert "Gitops-Event: ro_1_globex" in message


@pytest.mark.parametrize(
    ("slug", "release", "status", "field"),
    [
        ("nobody-here", "2026.12", 404, "data.slug"),
        ("globex", "2027.01", 422, "data.release"),
        ("globex", "not a release", 422, "data.release"),
    ],
)
def test_queue_release_change_answers_as_intake_does(
    settings: Settings, store: Store, slug: str, release: str, status: int, field: str
) -> None:
    answer = queue_release_change(store, settings, slug=slug, release=release, reason="test")
    assert (answer.status, answer.body["field"]) == (status, field)
    assert store.pending_count() == 0


def test_the_writer_refuses_a_release_removed_after_intake(
    settings: Settings,
    store: Store,
    writer: Writer,
    state_repo: Path,
    seed_dir: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    """The checker's veto at commit time: the inventory moved on between 202 and commit."""
    answer = queue_release_change(store, settings, slug="globex", release="2026.12", reason="t")
    assert answer.status == 202
    only = {"default": "2026.11", "known": ["2026.11"]}
    push_by_hand(clone(), {"nix/inventory.json": inventory_with(seed_dir, only)})
    writer.drain_once()
    assert "release" not in tenant_files(state_repo)["globex"]
    last = store.transitions("globex")[-1]
    assert last["status"] == "failed"
    assert "unknown release '2026.12'" in last["reason"]
