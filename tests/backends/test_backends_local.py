"""The local git backend: snapshot, plumbing commits, pushes without force, ancestry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from gitops_bot.backends.base import BackendError
from gitops_bot.backends.gitrepo import init_bare
from gitops_bot.backends.local import LocalGitRepo
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


def test_descends_says_yes_no_or_unknown(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(remote), tmp_path / "clone.git")
    root = repo.commit([], {"tenants/a.json": b"a\n"}, "root\n")
    child = repo.commit([root], {"tenants/b.json": b"b\n"}, "child\n")
    sibling = repo.commit([root], {"tenants/c.json": b"c\n"}, "sibling\n")
    assert repo.descends(child, root) is True
    assert repo.descends(child, child) is True
    assert repo.descends(root, child) is False
    assert repo.descends(sibling, child) is False
    # A commit this clone has not fetched (a host may run one the writer has not seen yet).
    assert repo.descends("1" * 40, root) is None


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


def test_commits_have_exactly_the_parents_given(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(remote), tmp_path / "clone.git")
    first = repo.commit([], {"tenants/a.json": b"a\n"}, "first\n")
    second_root = repo.commit([], {"tenants/b.json": b"b\n"}, "another root\n")
    side = repo.commit([first], {"tenants/c.json": b"c\n"}, "side\n")
    merge = repo.commit([first, side], {"tenants/d.json": b"d\n"}, "merge\n")
    clone = tmp_path / "clone.git"
    assert git(clone, "rev-list", "--parents", "-1", second_root).split() == [second_root]
    assert git(clone, "rev-list", "--parents", "-1", merge).split() == [merge, first, side]
    # A merge's tree is its first parent's plus the changes, as git commit-tree would make it.
    assert git(clone, "ls-tree", "-r", "--name-only", merge).split() == [
        "tenants/a.json",
        "tenants/d.json",
    ]
    assert git(clone, "log", "-1", "--format=%B", merge).strip() == "merge"


def test_paths_that_fast_import_could_misread_land_as_named(
    remote: Path, tmp_path: Path, clones: Callable[[str, Path], LocalGitRepo]
) -> None:
    repo = clones(str(remote), tmp_path / "clone.git")
    odd = ["nix/with space.nix", 'nix/"quoted".nix', "nix/back\\slash.nix"]
    root = repo.commit([], dict.fromkeys(odd, b"{}\n"), "odd names\n")
    gone = repo.commit([root], {odd[1]: None}, "remove one\n")
    listed = git(tmp_path / "clone.git", "ls-tree", "-r", "-z", "--name-only", gone)
    assert sorted(listed.strip("\0").split("\0")) == sorted([odd[0], odd[2]])
