"""Shared fixtures: a running fake GitHub, and PyGithub clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakegithub import FakeGitHub
from github import Github


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", owner="acme-ops", repo="fleet-state") as gh:
        gh.seed({"tenants/acme.json": b'{"slug": "acme"}\n', "nix/inventory.json": b"{}\n"})
        yield gh


@pytest.fixture
def github_client(fake_github: FakeGitHub) -> Iterator[Github]:
    """PyGithub without retries or pacing, so each answer of the fake is seen raw and fast."""
    client = fake_github.client()
    yield client
    client.close()
