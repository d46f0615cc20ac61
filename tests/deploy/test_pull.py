"""Pulling hosts on a real queue and repo: comin's exporters, over real HTTP, move tenants."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from comin_exporter import Exporter
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.github import GitHubRepo
from gitops_bot.config import Settings
from gitops_bot.contract.inventory import Host, Inventory
from gitops_bot.deploy.live import LiveRunner
from gitops_bot.deploy.pull import PullTracker
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import FakeGitHubClock, git, post_event, repo_for, signup

ROOT = Path(__file__).resolve().parent.parent.parent
# The repo's own tenants, recovered as committed when the writer first reads the branch.
ALL = ("acme", "delta", "globex", "initech")


@pytest.fixture
def exporters() -> Iterator[dict[str, Exporter]]:
    served = {"web-1": Exporter(), "web-2": Exporter()}
    yield served
    for exporter in served.values():
        exporter.close()


@pytest.fixture
def seed_dir(tmp_path: Path, exporters: dict[str, Exporter]) -> Path:
    """This repo's tenants/ and nix/, with both hosts pulling and their exporters on 127.0.0.1."""
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "tenants", seed / "tenants")
    shutil.copytree(ROOT / "nix", seed / "nix", ignore=shutil.ignore_patterns("tests"))
    inventory_path = seed / "nix" / "inventory.json"
    inventory = json.loads(inventory_path.read_text())
    for name, host in inventory["hosts"].items():
        host.update(deploy="comin", exporter=exporters[name].address)
    inventory_path.write_text(json.dumps(inventory, indent=2, sort_keys=True) + "\n")
    return seed


@pytest.fixture
def tracker(settings: Settings) -> Iterator[PullTracker]:
    pulled = PullTracker(lambda: repo_for(settings), interval=0.0, timeout=2.0)
    yield pulled
    pulled.close()


def committed(client: FlaskClient, writer: Writer, store: Store, slug: str) -> tuple[str, str]:
    """Sign `slug` up and commit it: its host and the commit that put it on the branch."""
    post_event(client, signup(slug, plan="pro"))
    writer.drain_once()
    tenant = store.tenant(slug)
    assert tenant is not None
    (sha,) = [t["commit_sha"] for t in store.transitions(slug) if t["status"] == "committed"]
    return tenant.host, sha


def inventory_of(store: Store) -> Inventory:
    inventory = store.inventory()
    assert inventory is not None
    return inventory


def test_a_tenant_is_deployed_once_its_host_runs_its_commit_or_a_later_one(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    exporters: dict[str, Exporter],
    tracker: PullTracker,
) -> None:
    before = git(state_repo, "rev-parse", "main").strip()
    host, first = committed(client, writer, store, "delta")
    exporters[host].deployed(before)
    tracker.run(store, inventory_of(store))
    assert store.last_status("delta") == "committed"  # the host runs a commit from before it
    assert tracker.seen[host].commit == before
    # Another signup lands on the same host after it: the host switches to the later commit.
    other, later = committed(client, writer, store, "echo")
    if other != host:
        exporters[other].deployed(later)
    exporters[host].deployed(later)
    tracker.run(store, inventory_of(store))
    for slug in ("delta", "echo"):
        last = store.transitions(slug)[-1]
        assert last["status"] == "deployed"
        assert last["commit_sha"] == later
        assert last["url"] == f"https://{slug}.tenants.example.com/"
    assert first != later


def test_a_failed_comin_deployment_fails_its_tenants_with_the_reason(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    exporters: dict[str, Exporter],
    tracker: PullTracker,
) -> None:
    host, sha = committed(client, writer, store, "delta")
    exporters[host].deployed(sha, "failed")
    tracker.run(store, inventory_of(store))
    last = store.transitions("delta")[-1]
    assert last["status"] == "failed"
    assert last["reason"].startswith(f"comin on {host} failed to deploy {sha[:12]}")
    # The next deployment works: failed is left for deployed.
    exporters[host].deployed(sha)
    tracker.run(store, inventory_of(store))
    assert store.last_status("delta") == "deployed"


def test_a_live_tenant_is_not_deployed_again(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    exporters: dict[str, Exporter],
    tracker: PullTracker,
) -> None:
    host, sha = committed(client, writer, store, "delta")
    with store.transaction():
        store.add_transition("delta", "deployed")
        store.add_transition("delta", "live")
        store.add_transition("delta", "failed", reason="an update the checker refused")
    exporters[host].deployed(sha)
    tracker.run(store, inventory_of(store))
    assert store.last_status("delta") == "failed"


def test_hosts_without_exporter_or_answer_or_deployment_are_blind(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    exporters: dict[str, Exporter],
    tracker: PullTracker,
) -> None:
    _, sha = committed(client, writer, store, "delta")
    inventory = inventory_of(store)
    exporters["web-1"].deployed(sha)
    exporters["web-2"].status = 500
    tracker.run(store, inventory)
    assert tracker.blind == {"web-2"}
    assert "answered 500" in tracker.errors["web-2"]
    # comin forgets its last deployment when it restarts: nothing reported is not "nothing runs".
    exporters["web-2"].status = 200
    tracker.run(store, inventory)
    assert tracker.blind == {"web-2"}
    without = inventory.model_copy(
        update={
            "hosts": {
                **inventory.hosts,
                "web-1": Host(address="web-1", capacity=100, deploy="comin"),
            }
        }
    )
    tracker.run(store, without)
    assert tracker.blind == {"web-1", "web-2"}


def test_a_fleet_that_pushes_is_never_scraped(
    store: Store, exporters: dict[str, Exporter], tracker: PullTracker
) -> None:
    inventory = inventory_of(store)
    pushed = inventory.model_copy(
        update={
            "hosts": {
                n: Host(address=h.address, capacity=h.capacity) for n, h in inventory.hosts.items()
            }
        }
    )
    tracker.run(store, pushed)
    assert tracker.blind == frozenset()
    assert [e.requests for e in exporters.values()] == [0, 0]


def test_scrapes_wait_for_their_interval(
    settings: Settings, store: Store, exporters: dict[str, Exporter]
) -> None:
    now = [100.0]
    pulled = PullTracker(
        lambda: repo_for(settings), interval=15.0, timeout=2.0, clock=lambda: now[0]
    )
    pulled.run(store, inventory_of(store))
    pulled.run(store, inventory_of(store))
    assert exporters["web-1"].requests == 1
    now[0] += 15
    pulled.run(store, inventory_of(store))
    assert exporters["web-1"].requests == 2
    pulled.close()


def test_the_probe_watches_tenants_of_blind_hosts_and_deployed_ones_of_seen_hosts(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    settings: Settings,
    exporters: dict[str, Exporter],
) -> None:
    host, sha = committed(client, writer, store, "delta")
    pulled = PullTracker(lambda: repo_for(settings), interval=0.0, timeout=2.0)
    # Nothing answers there: the probe only has to start watching here, not succeed.
    names = {f"{slug}.tenants.example.com": "127.0.0.1" for slug in ALL}
    probing = settings.model_copy(
        update={"probe_interval": 60.0, "probe_port": closed_port(), "probe_resolve": names}
    )
    live = LiveRunner(probing, pull=pulled)
    live.run(store)
    # Neither host reports a deployment: for every tenant on the branch, the probe decides.
    assert live.watch.watching == set(ALL)
    assert store.last_status("delta") == "committed"
    exporters[host].deployed(sha)
    live.run(store)
    on_host = {slug for slug in ALL if (t := store.tenant(slug)) is not None and t.host == host}
    assert "delta" in on_host
    assert {slug for slug in ALL if store.last_status(slug) == "deployed"} == on_host
    assert live.watch.watching == set(ALL)  # deployed ones, and the blind host's as before
    pulled.close()


def test_on_github_the_compare_api_tells_which_tenants_a_host_runs(
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
    github_settings: Settings,
    github_clock: FakeGitHubClock,
    fleet: FakeGitHub,
    exporters: dict[str, Exporter],
) -> None:
    before = fleet.branch_sha("main")
    host, sha = committed(github_intake, github_writer, github_store, "delta")
    pulled = PullTracker(
        lambda: GitHubRepo.from_settings(github_settings, clock=github_clock),
        interval=0.0,
        timeout=2.0,
    )
    exporters[host].deployed(before)
    fleet.reset_log()
    pulled.run(github_store, inventory_of(github_store))
    assert github_store.last_status("delta") == "committed"
    # This process wrote none of that history: GitHub was asked, once.
    asked = [r.path for r in fleet.requests if "/compare/" in r.path]
    assert asked == [f"/api/v3/repos/{fleet.full_name}/compare/{sha}...{before}"]
    pulled.run(github_store, inventory_of(github_store))
    # Ancestry of two commits never changes: the answer is kept.
    assert [r.path for r in fleet.requests if "/compare/" in r.path] == asked
    exporters[host].deployed(sha)
    pulled.run(github_store, inventory_of(github_store))
    assert github_store.last_status("delta") == "deployed"
    pulled.close()


def closed_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port
