"""The local git backend: snapshot, plumbing commits, pushes without force, ancestry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from gitops_bot.backends import BackendError
from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.gitrepo import init_bare
from helpers import git


@pytest.fixture
def clones() -> Iterator[Callable[[str, Path], LocalGitRepo]]:
    opened: list[LocalGitRepo] = []

    def open_clone(url: str, path: Path) -> LocalGitRepo:
        opened.append(LocalGitRepo(url, path))
        return opened[-1]

    yield open_clone
    for repo in opened:
        repo.close()


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    init_bare(path, branch="main")
    return path


def test_missing_branch_is_none(remote: Path, tmp_path: Path) -> None:
    with closing(LocalGitRepo(str(remote), tmp_path / "clone.git")) as repo:
        assert repo.snapshot("main") is None


def test_commit_advance_snapshot_round_trip(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(remote), tmp_path / "clone.git")
    root = repo.commit(
        [], {"tenants/a.json": b"a\n", "nix/x.nix": b"{}\n", "README": b"r"}, "root\n"
    )
    assert repo.advance("main", root)
    snap = repo.snapshot("main")
    assert snap is not None
    assert snap.sha == root
    assert set(snap.files) == {"tenants/a.json", "nix/x.nix"}  # only what the bot reads
    assert repo.read_blobs([snap.files["tenants/a.json"]]) == {snap.files["tenants/a.json"]: b"a\n"}
    child = repo.commit([root], {"tenants/a.json": None, "tenants/b.json": b"b\n"}, "swap\n")
    assert repo.advance("main", child)
    assert git(remote, "ls-tree", "-r", "--name-only", "main").split() == [
        "README",
        "nix/x.nix",
        "tenants/b.json",
    ]
    assert (
        git(remote, "log", "-1", "--format=%an <%ae>", "main").strip()
        == "gitops-bot <gitops-bot@users.noreply.invalid>"
    )


def test_non_fast_forward_is_refused_not_forced(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    ours = clones(str(remote), tmp_path / "ours.git")
    theirs = clones(str(remote), tmp_path / "theirs.git")
    root = ours.commit([], {"tenants/a.json": b"a\n"}, "root\n")
    assert ours.advance("main", root)
    mine = ours.commit([root], {"tenants/b.json": b"b\n"}, "mine\n")
    theirs_head = theirs.snapshot("main")
    assert theirs_head is not None
    assert theirs.advance("main", theirs.commit([root], {"tenants/c.json": b"c\n"}, "theirs\n"))
    assert ours.advance("main", mine) is False
    assert "tenants/c.json" in git(remote, "ls-tree", "-r", "--name-only", "main")
    assert ours.contains("main", root)
    ours.snapshot("main")
    assert not ours.contains("main", mine)
    assert not ours.contains("main", "0" * 40)


def test_unreachable_remote_is_a_backend_error(
    tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(tmp_path / "nowhere.git"), tmp_path / "clone.git")
    with pytest.raises(BackendError, match="fetch failed"):
        repo.snapshot("main")


def test_clone_config_holds_no_credentials(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    clones(str(remote), tmp_path / "clone.git").snapshot("main")
    config = (tmp_path / "clone.git" / "config").read_text()
    assert "token" not in config.lower()
    assert "@" not in config


def test_a_large_batch_lands_byte_for_byte_at_its_own_paths(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(remote), tmp_path / "clone.git")
    files = {f"tenants/t{n:03d}.json": f'{{"n": {n}}}\n'.encode() for n in range(300)}
    files["tenants/same.json"] = files["tenants/t007.json"]  # one blob, two paths
    files["tenants/crlf.json"] = b'{"line": "ends"}\r\n'  # stored as given, no filters
    files["tenants/empty.json"] = b""
    root = repo.commit([], files, "batch\n")
    assert repo.advance("main", root)
    snap = repo.snapshot("main")
    assert snap is not None
    stored = repo.read_blobs(set(snap.files.values()))
    assert {path: stored[blob] for path, blob in snap.files.items()} == files
