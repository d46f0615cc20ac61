"""A small state repo for deploy tests: three hosts, two tenants, a bare remote and a clone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nix_helpers import uid_of

from gitops_bot.backends import gitrepo
from gitops_bot.cli import main
from helpers import Clone

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from fake_engine import FakeEngine

HOSTS = ("web-1", "web-2", "web-3")
NIXOPS = ["nixops", "deploy", "-d", "fleet", "--include"]


def inventory(**hosts: dict[str, Any]) -> dict[str, Any]:
    return {
        "baseDomain": "tenants.example.com",
        "hosts": {name: {"address": f"{name}.fleet.example.net", "capacity": 10} for name in HOSTS}
        | hosts,
        "plans": {"pro": {"cpuQuota": "100%", "memoryMax": "1G"}},
    }


def tenant(slug: str, host: str, state: str = "active") -> dict[str, Any]:
    return {
        "$schema": "./tenant.schema.json",
        "createdAt": "2026-11-02T09:30:00Z",
        "domains": [],
        "host": host,
        "origin": f"msg_{slug}",
        "plan": "pro",
        "schemaVersion": 1,
        "slug": slug,
        "state": state,
        "uid": uid_of(slug),
    }


def seed(tmp_path: Path, remote: Path | None = None) -> Clone:
    """A clone of `remote` (default: a new bare repo) with the seed commit pushed."""
    if remote is None:
        remote = tmp_path / "state.git"
        gitrepo.init_bare(remote, branch="main")
    clone = Clone(tmp_path / "checkout", remote)
    clone.write("nix/inventory.json", inventory())
    clone.write("nix/module.nix", "{ ... }: { }\n")
    clone.write("tenants/alpha.json", tenant("alpha", "web-1"))
    clone.write("tenants/bravo.json", tenant("bravo", "web-2"))
    clone.write("README.md", "state repo\n")
    clone.commit("seed")
    return clone


def deploy(state: Clone, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`gitops-bot deploy --push-markers ARGS` in the clone: exit code, stdout, stderr."""
    code = main(["deploy", "--repo", str(state.path), "--push-markers", *args])
    out, err = capsys.readouterr()
    return code, out, err


def deploy_once(state: Clone, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> str:
    """Deploy the seed to every host, forget the engine's record of it, return the commit."""
    code, _, err = deploy(state, capsys)
    assert code == 0, err
    engine.log.unlink()
    return state.git("rev-parse", "HEAD")


def remote_markers(state: Clone) -> dict[str, str]:
    refs = gitrepo.refs(state.remote, "refs/tags/deployed/")
    return {name.removeprefix("refs/tags/deployed/"): sha for name, sha in refs.items()}
