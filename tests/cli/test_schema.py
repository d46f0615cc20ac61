"""`gitops-bot schema --write` on a checkout with committed symlinks in it."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

from gitops_bot.cli import main
from gitops_bot.contract.tenant import SCHEMA_FILE
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


def test_schema_write_replaces_a_link_instead_of_writing_through_it(
    checkout: Path, outside: Path
) -> None:
    before = outside.read_bytes()
    target = checkout / "tenants" / SCHEMA_FILE
    target.unlink()
    target.symlink_to(outside)
    assert main(["schema", "--write", str(checkout)]) == 0
    assert outside.read_bytes() == before
    assert not target.is_symlink()
    assert json.loads(target.read_text(encoding="utf-8"))["title"]


def test_schema_write_refuses_a_linked_or_missing_folder(
    checkout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "--write", str(tmp_path / "nowhere")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "tenants").symlink_to(checkout / "tenants")
    assert main(["schema", "--write", str(linked)]) == 2
    assert "is a symlink" in capsys.readouterr().err
