"""markers: deployed/<host> tags, moved only from the value read before the deploy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gitops_bot.backends import gitrepo
from gitops_bot.deploy import markers
from helpers import Clone

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def checkout(tmp_path: Path) -> Clone:
    remote = tmp_path / "remote.git"
    gitrepo.init_bare(remote, branch="main")
    return Clone(tmp_path / "checkout", remote)


def test_record_locally_then_read_back(checkout: Clone) -> None:
    repo = checkout.path
    first, second = checkout.commit("first"), checkout.commit("second")

    markers.record(
        repo, hosts=["web-1", "web-2"], commit=first, previous={}, remote=None, token=None
    )
    markers.record(
        repo, hosts=["web-2"], commit=second, previous={"web-2": first}, remote=None, token=None
    )

    assert markers.read(repo) == {"web-1": first, "web-2": second}
    assert gitrepo.refs(checkout.remote, "refs/tags/") == {}


def test_recording_the_commit_a_host_already_has_changes_nothing(checkout: Clone) -> None:
    repo = checkout.path
    first = checkout.commit("first")
    markers.record(repo, hosts=["web-1"], commit=first, previous={}, remote="origin", token=None)

    # previous says web-1 is at `first` already: no push happens, so no lease can fail.
    markers.record(
        repo, hosts=["web-1"], commit=first, previous={"web-1": first}, remote="nowhere", token=None
    )
    assert markers.read(repo) == {"web-1": first}


def test_a_refused_push_leaves_the_local_markers_alone(checkout: Clone) -> None:
    repo = checkout.path
    first, second = checkout.commit("first"), checkout.commit("second")
    markers.record(repo, hosts=["web-1"], commit=first, previous={}, remote="origin", token=None)

    with pytest.raises(gitrepo.GitError):  # claims web-1 was never deployed: the lease fails
        markers.record(
            repo, hosts=["web-1"], commit=second, previous={}, remote="origin", token=None
        )

    assert markers.read(repo) == {"web-1": first}
