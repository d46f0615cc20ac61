"""nixeval's reading of a revision: a tree nix/ cannot be given is an EvalError, not a crash."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from gitops_bot.nix import nixeval

if TYPE_CHECKING:
    from pathlib import Path

IDENTITY = ("-c", "user.name=nixeval test", "-c", "user.email=nixeval@test.invalid")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def committed(repo: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=True
        ).stdout

    git("add", "-A")
    git("commit", "-q", "-m", "tree")
    return git("rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    (path / "nix").mkdir(parents=True)
    (path / "nix" / "default.nix").write_text("{ }\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def test_materialize_writes_the_tree(repo: Path, tmp_path: Path) -> None:
    commit = committed(repo)
    nixeval.materialize(repo, commit, tmp_path / "out")
    assert (tmp_path / "out" / "nix" / "default.nix").read_text(encoding="utf-8") == "{ }\n"


@pytest.mark.parametrize(
    ("name", "target"), [("nix/evil.nix", "/etc/passwd"), ("tenants/up.json", "../../outside")]
)
def test_a_symlink_out_of_the_tree_is_an_eval_error_naming_it(
    repo: Path, tmp_path: Path, name: str, target: str
) -> None:
    (repo / name).parent.mkdir(exist_ok=True)
    (repo / name).symlink_to(target)
    commit = committed(repo)
    with pytest.raises(nixeval.EvalError, match=name):
        nixeval.materialize(repo, commit, tmp_path / "out")
