"""gitrepo: reading revisions, and moving refs only from the value they were read at."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from gitops_bot.backends import gitrepo
from helpers import Clone

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    gitrepo.init_bare(path, branch="main")
    return path


@pytest.fixture
def checkout(tmp_path: Path, remote: Path) -> Clone:
    return Clone(tmp_path / "checkout", remote)


@pytest.fixture
def repo(checkout: Clone) -> Path:
    return checkout.path


def test_changed_paths_compare_trees_and_split_renames(checkout: Clone, repo: Path) -> None:
    checkout.write("tenants/acme.json", "{}\n")
    checkout.write("README.md", "hello\n")
    first = checkout.commit("first")
    checkout.git("mv", "tenants/acme.json", "tenants/acme-corp.json")
    checkout.write("README.md", "hello again\n")
    second = checkout.commit("second")

    assert gitrepo.changed_paths(repo, first, second) == (
        "README.md",
        "tenants/acme-corp.json",
        "tenants/acme.json",
    )
    assert gitrepo.changed_paths(repo, second, second) == ()


def test_resolve_names_commits_and_refuses_options(checkout: Clone, repo: Path) -> None:
    sha = checkout.commit("first")
    assert gitrepo.resolve(repo, "HEAD") == sha
    assert gitrepo.has_commit(repo, sha)
    assert not gitrepo.has_commit(repo, "0" * 40)
    with pytest.raises(gitrepo.GitError):
        gitrepo.resolve(repo, "no-such-branch")
    with pytest.raises(gitrepo.GitError, match="not a revision"):
        gitrepo.resolve(repo, "--all")


def test_update_ref_moves_only_from_the_value_read(checkout: Clone, repo: Path) -> None:
    first = checkout.commit("first")
    second = checkout.commit("second")
    ref = "refs/tags/deployed/web-1"

    gitrepo.update_ref(repo, ref, first, old=None)
    with pytest.raises(gitrepo.GitError):
        gitrepo.update_ref(repo, ref, second, old=None)  # it exists now
    gitrepo.update_ref(repo, ref, second, old=first)

    assert gitrepo.refs(repo, "refs/tags/deployed/") == {ref: second}


def test_refs_peel_annotated_tags(checkout: Clone, repo: Path) -> None:
    sha = checkout.commit("first")
    checkout.git("tag", "-a", "-m", "annotated", "deployed/web-2", sha)
    assert gitrepo.refs(repo, "refs/tags/deployed/") == {"refs/tags/deployed/web-2": sha}


def test_push_refs_is_atomic_and_leased(checkout: Clone, repo: Path, remote: Path) -> None:
    first = checkout.commit("first")
    second = checkout.commit("second")
    one, two = "refs/tags/deployed/web-1", "refs/tags/deployed/web-2"
    remote_repo = remote

    gitrepo.push_refs(repo, "origin", {one: (None, first), two: (None, first)}, token=None)
    gitrepo.push_refs(repo, "origin", {one: (first, second)}, token=None)
    assert gitrepo.refs(remote_repo, "refs/tags/") == {one: second, two: first}

    # web-1's lease is stale (it is at `second` now): neither ref may move.
    with pytest.raises(gitrepo.GitError):
        gitrepo.push_refs(repo, "origin", {one: (first, first), two: (first, second)}, token=None)
    with pytest.raises(gitrepo.GitError):
        gitrepo.push_refs(repo, "origin", {two: (None, second)}, token=None)  # exists already
    assert gitrepo.refs(remote_repo, "refs/tags/") == {one: second, two: first}


def test_fetch_refs_mirrors_the_remote(checkout: Clone, repo: Path, tmp_path: Path) -> None:
    first = checkout.commit("first")
    second = checkout.commit("second")
    other = Clone(tmp_path / "other", checkout.remote).path
    gitrepo.update_ref(repo, "refs/tags/deployed/stale", first, old=None)
    gitrepo.push_refs(other, "origin", {"refs/tags/deployed/web-1": (None, second)}, token=None)

    gitrepo.fetch_refs(repo, "origin", "refs/tags/deployed/*", token=None)

    assert gitrepo.refs(repo, "refs/tags/deployed/") == {"refs/tags/deployed/web-1": second}


def test_the_token_reaches_git_through_its_environment_only(
    checkout: Clone, repo: Path, remote: Path
) -> None:
    env = gitrepo.credential_env("ghs_secret-token")
    checkout.git("config", "credential.helper", "store")  # a helper of the repo's own is dropped
    answer = subprocess.run(
        ["git", "-C", str(checkout.path), "credential", "fill"],
        input="protocol=https\nhost=github.com\n\n",
        capture_output=True,
        text=True,
        check=True,
        env={**gitrepo.ISOLATED_ENV, "PATH": "/usr/bin:/bin", **env},
    ).stdout
    assert "username=x-access-token\npassword=ghs_secret-token\n" in answer
    assert "ghs_secret-token" not in " ".join(env[k] for k in env if k != gitrepo.TOKEN_VARIABLE)

    first = checkout.commit("first")
    gitrepo.push_refs(repo, "origin", {"refs/tags/deployed/web-1": (None, first)}, token="t0k")
    config = (checkout.path / ".git" / "config").read_text()
    assert "t0k" not in config
    assert gitrepo.credential_env(None) == {}
