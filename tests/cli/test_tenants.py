"""`gitops-bot tenants`: operators' changes go through the same queue as webhooks'."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_bot.cli import main
from gitops_bot.config import Settings
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import seed_state_repo, tenant_files


@pytest.fixture
def state_repo(settings: Settings, seed_dir: Path) -> Path:
    """The examples, with a second release the inventory lists."""
    path = seed_dir / "nix/inventory.json"
    inventory = json.loads(path.read_text())
    inventory["releases"] = {"default": "2026.11", "known": ["2026.11", "2026.12"]}
    path.write_text(json.dumps(inventory))
    return seed_state_repo(settings)


def test_the_cli_moves_a_tenant_through_the_same_queue(
    settings: Settings,
    store: Store,
    writer: Writer,
    state_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(settings.state_dir))
    args = ["tenants", "update", "acme", "--reason", "canary", "--wait", "0"]
    assert main([*args, "--release", "2027.01"]) == 1
    assert "data.release" in capsys.readouterr().out
    assert main([*args, "--release", "2026.12"]) == 1  # queued; no writer runs meanwhile
    assert capsys.readouterr().out.startswith("202 ")
    writer.drain_once()
    assert tenant_files(state_repo)["acme"]["release"] == "2026.12"
