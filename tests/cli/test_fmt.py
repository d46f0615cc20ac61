"""`gitops-bot fmt` on a checkout with committed symlinks in it."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

from gitops_bot.cli import main
from helpers import ROOT

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "tenants", root / "tenants")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the checkout that a committed link points to."""
    path = tmp_path / "outside.json"
    canonical = (ROOT / "tenants" / "acme.json").read_text(encoding="utf-8")
    path.write_text(json.dumps(json.loads(canonical)).replace("acme", "linked"), encoding="utf-8")
    return path


def test_fmt_does_not_write_through_a_link_at_its_old_draft_name(
    checkout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = outside.read_bytes()
    (checkout / "tenants" / ".acme.json.fmt").symlink_to(outside)
    acme = checkout / "tenants" / "acme.json"
    acme.write_text(json.dumps(json.loads(acme.read_text(encoding="utf-8"))), encoding="utf-8")
    assert main(["fmt", str(checkout)]) == 0
    assert outside.read_bytes() == before
    assert main(["fmt", str(checkout), "--check"]) == 0
    capsys.readouterr()


def test_fmt_refuses_a_symlinked_tenant_file(
    checkout: Path, outside: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = outside.read_bytes()
    link = checkout / "tenants" / "linked.json"
    link.symlink_to(outside)
    assert main(["fmt", str(checkout)]) == 1
    assert "linked.json: not formatted: is a symlink" in capsys.readouterr().err
    assert link.is_symlink()
    assert outside.read_bytes() == before


def test_fmt_refuses_a_symlinked_tenants_folder(
    checkout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "tenants").symlink_to(checkout / "tenants")
    assert main(["fmt", str(linked)]) == 2
    assert "is a symlink" in capsys.readouterr().err
