"""What the writer needs from a state repo, whichever service hosts it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

# The commit trailer that names the event a commit carries out; backends that cannot afford to
# diff history find a tenant's first commit by it (StateRepo.added_in).
TRAILER: Final = "Gitops-Event"
# The mode git records for a symlink, in a local tree listing and in GitHub's.
SYMLINK_MODE: Final = "120000"


@dataclass(frozen=True)
class Snapshot:
    """A branch head, and the blob id of each file under tenants/ and nix/ in it."""

    sha: str
    files: Mapping[str, str]
    # Symlinks under tenants/ and nix/, left out of `files` as Nix's readDir leaves them
    # out of the fleet; the checker names each one, so both agree on what the fleet is.
    links: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Review:
    """A change waiting for a reviewer: a branch, and where people review it."""

    branch: str
    title: str
    body: str
    url: str | None = None


@dataclass(frozen=True)
class AddedIn:
    """What a history search found: the commit that added each file, by path.

    `unreached` are files whose search stopped at a bound on how much history is read
    (`bound` says which, in words) before finding them: their commit may be further back.
    A file that no commit names (added by hand) is simply absent from `commits`.
    """

    commits: Mapping[str, str]
    unreached: frozenset[str] = frozenset()
    bound: str = ""


class BackendError(Exception):
    """The state repo could not be read or written; the writer retries later."""


class StateRepo(Protocol):
    # Whether open_review puts a review's text before anyone (a pull request's body): the
    # local backend's reviews are bare branches, so the writer need not describe them.
    describes_reviews: bool

    def snapshot(self, branch: str) -> Snapshot | None:
        """The current head of `branch`, fetched fresh; None when the branch does not exist."""
        ...

    def read_blobs(self, blob_ids: Collection[str]) -> dict[str, bytes]: ...

    def commit(
        self, parents: Sequence[str], changes: Mapping[str, bytes | None], message: str
    ) -> str:
        """A commit with the first parent's tree plus `changes` (None deletes a path).

        The commit is on no branch yet; `advance` puts it there.
        """
        ...

    def advance(self, branch: str, new: str) -> bool:
        """Move `branch` to `new`, a descendant of its head, without force (or create it).

        False when that is not a fast-forward because the branch moved meanwhile: the
        caller rebuilds its commit on the new head.
        """
        ...

    def contains(self, branch: str, sha: str) -> bool:
        """Whether `sha` is reachable from the head of `branch` (as last fetched)."""
        ...

    def descends(self, commit: str, ancestor: str) -> bool | None:
        """Whether `ancestor` is `commit` or in its history; None when either is unknown here.

        Both are commits, so the answer never changes once known: callers may keep it.
        """
        ...

    def delete_branch(self, branch: str) -> None: ...

    def added_in(self, branch: str, folder: str, origins: Mapping[str, str]) -> AddedIn:
        """For files under `folder`, the commit on `branch` that added each.

        `origins` gives the event id that created each file, which the bot's commits name
        in a trailer: a backend that cannot afford to diff history finds them by that.
        Read once after a lost database; a backend may leave out what would cost too much,
        and names those files in `unreached`.
        """
        ...

    def removed_files(self, branch: str, folder: str) -> list[bytes]:
        """The last content of every file that history on `branch` removed from `folder`.

        Read once after a lost database, so that no removed tenant's uid is handed out
        again; a backend may leave out what would cost too much.
        """
        ...

    def open_reviews(self, prefix: str) -> dict[str, str]:
        """The branches named `prefix`... under review now, each with its review's URL.

        A backend without review URLs gives the branch name. Read once after a lost
        database, so that reviews in progress are known again.
        """
        ...

    def open_review(self, review: Review) -> str | None:
        """Open (or update, if one is open) the review of `review.branch`; its URL if any."""
        ...

    def close(self) -> None:
        """Release processes and connections."""
        ...
