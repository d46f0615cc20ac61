"""The state repo on GitHub, through the Git Data API: one commit per batch, and no clone."""

from __future__ import annotations

import base64
import logging
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final

from github.GitCommit import GitCommit
from github.GitTree import GitTree
from github.InputGitTreeElement import InputGitTreeElement

from gitops_bot.backends.base import AddedIn, Review, Snapshot
from gitops_bot.backends.github_api import ApiError, GitHubApi, connect
from gitops_bot.backends.github_files import (
    archive_blobs,
    blob_id,
    lazy_object,
    lazy_ref,
    list_files,
    split_links,
    watched,
)
from gitops_bot.backends.github_history import HISTORY_PAGES, added_in
from gitops_bot.backends.github_reviews import PullRequests, ReviewOptions

if TYPE_CHECKING:
    from gitops_bot.backends.ratelimit import Clock
    from gitops_bot.config import Settings

log = logging.getLogger(__name__)

# More unknown blobs than this are read from one tarball of the commit rather than one by one.
ARCHIVE_THRESHOLD: Final = 20
# File lists of this many recent commits are kept: the head, and the commits built on it.
_KEPT_COMMITS: Final = 4
# Seconds after a write during which the writer builds on it without reading the ref again.
# Shorter than the writer's idle re-read (30 s), so a quiet writer still sees others' merges.
TRUST_OWN_WRITE: Final = 20.0
# Commits whose tree and parents are remembered; the oldest are forgotten first.
_KNOWN_COMMITS: Final = 10_000


class GitHubRepo:
    """A StateRepo on GitHub: Git Data API commits, pull requests as reviews.

    Everything this process learns or writes is remembered (commit to tree, commit to file
    list, blob contents, its own commits' parents), so the steady state of a batch is three
    requests: create a tree, create a commit, move the ref. The ref is read again only when
    the last write is old or GitHub refused it.
    """

    def __init__(
        self, api: GitHubApi, options: ReviewOptions, *, history_pages: int = HISTORY_PAGES
    ) -> None:
        self.api = api
        # How many pages of the commit list a lost database's recovery reads, at most.
        self.history_pages = history_pages
        self.pulls = PullRequests(api, options)
        self._trees: dict[str, str] = {}
        self._files: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._blobs: dict[str, bytes] = {}
        self._parents: dict[str, tuple[str, ...]] = {}
        self._heads: dict[str, str] = {}
        self._written: dict[str, str] = {}
        self._absent: set[str] = set()
        self._created: set[str] = set()
        self._last_read: str | None = None
        self._trusted_until: dict[str, float] = {}
        self._clock = api.governor.clock.monotonic

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock | None = None, history_pages: int = HISTORY_PAGES
    ) -> GitHubRepo:
        return cls(
            connect(settings, clock=clock),
            ReviewOptions.from_settings(settings),
            history_pages=history_pages,
        )

    # --- reading --------------------------------------------------------------------------

    def snapshot(self, branch: str) -> Snapshot | None:
        trusted = self._written.get(branch)
        if trusted is not None and self._clock() < self._trusted_until.get(branch, 0.0):
            # Our own write of a moment ago: building on it needs no read. If someone else
            # moved the branch meanwhile, the ref update answers 422 and we read then.
            return _snapshot(trusted, self._files_of(trusted))
        try:
            read = self.api.call(
                f"read branch {branch}",
                lambda: self.api.repo.get_git_ref(f"heads/{branch}").object.sha,
                write=False,
            )
        except ApiError as missing:
            if missing.status != 404:  # noqa: PLR2004
                raise
            self._forget_branch(branch)
            return None
        sha = self._unlagged(branch, read)
        self._heads[branch] = sha
        self._absent.discard(branch)
        self._last_read = sha
        return _snapshot(sha, self._files_of(sha))

    def _unlagged(self, branch: str, read: str) -> str:
        """What a ref read means: GitHub may answer from a replica that lags behind our write.

        A read that returns an ancestor of the commit this process last put on the branch
        is such a lagging read; building on it would only earn a 422 and a retry.
        """
        written = self._written.get(branch)
        if written is None or read == written or not self._descends(written, read):
            return read
        log.info(
            "GitHub showed %s at %s, behind our %s; using ours", branch, read[:12], written[:12]
        )
        return written

    def _descends(self, child: str, ancestor: str) -> bool:
        """Whether `ancestor` is in the history of `child` as far as this process knows it."""
        seen: set[str] = set()
        todo = [child]
        while todo and len(seen) < _KNOWN_COMMITS:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha not in seen:
                seen.add(sha)
                todo.extend(self._parents.get(sha, ()))
        return False

    def _files_of(self, commit: str) -> dict[str, str]:
        if commit in self._files:
            self._files.move_to_end(commit)
            return self._files[commit]
        self._trees[commit], files = list_files(self.api, commit, self._blobs)
        self._remember(commit, files)
        return files

    def _remember(self, commit: str, files: dict[str, str]) -> None:
        self._files[commit] = files
        self._files.move_to_end(commit)
        while len(self._files) > _KEPT_COMMITS:
            self._files.popitem(last=False)
            # Contents nobody can ask for any more: not in a remembered commit.
            wanted = {blob for kept in self._files.values() for blob in kept.values()}
            self._blobs = {blob: data for blob, data in self._blobs.items() if blob in wanted}

    def read_blobs(self, blob_ids: Collection[str]) -> dict[str, bytes]:
        missing = {blob for blob in blob_ids if blob not in self._blobs}
        if len(missing) > ARCHIVE_THRESHOLD and self._last_read is not None:
            # The first read of a large repo: one tarball instead of a request per file.
            self._blobs.update(archive_blobs(self.api, self._last_read))
            missing -= self._blobs.keys()
        for blob in sorted(missing):
            # Also what the archive lacked: export-ignore, or export-subst changing the bytes.
            found = self.api.call(
                "read blob", partial(self.api.repo.get_git_blob, blob), write=False
            )
            self._blobs[blob] = base64.b64decode(found.content)
        return {blob: self._blobs[blob] for blob in blob_ids}

    def contains(self, branch: str, sha: str) -> bool:
        head = self._heads.get(branch)
        if head is None:
            return False
        return self.descends(head, sha) is True

    def descends(self, commit: str, ancestor: str) -> bool | None:
        if self._descends(commit, ancestor):
            return True
        try:
            status = self.api.call(
                "compare",
                lambda: (
                    self.api.repo.compare(ancestor, commit, comparison_commits_per_page=1).status
                ),
                write=False,
            )
        except ApiError as unknown:
            if unknown.status == 404:  # noqa: PLR2004 - no such commit, or unrelated histories
                return None
            raise
        return status in {"ahead", "identical"}

    # --- writing --------------------------------------------------------------------------

    def commit(
        self, parents: Sequence[str], changes: Mapping[str, bytes | None], message: str
    ) -> str:
        repo = self.api.repo
        elements = [self._element(path, content) for path, content in sorted(changes.items())]
        if parents:
            base = lazy_object(GitTree, repo, "trees", self._tree_of(parents[0]))
            tree = self.api.call(
                "create tree", lambda: repo.create_git_tree(elements, base), write=True
            )
        else:
            tree = self.api.call("create tree", lambda: repo.create_git_tree(elements), write=True)
        parent_commits = [lazy_object(GitCommit, repo, "commits", p) for p in parents]
        made = self.api.call(
            "create commit",
            lambda: repo.create_git_commit(message, tree, parent_commits),
            write=True,
        )
        self._trees[made.sha] = tree.sha
        self._parents[made.sha] = tuple(parents)
        for known_commits in (self._trees, self._parents):
            while len(known_commits) > _KNOWN_COMMITS:  # months of batches; memory stays flat
                del known_commits[next(iter(known_commits))]
        known = self._files.get(parents[0]) if parents else {}
        if known is not None:
            files = dict(known)
            for path, content in changes.items():
                if not watched(path):
                    continue
                if content is None:
                    files.pop(path, None)
                else:
                    files[path] = blob_id(content)
                    self._blobs[files[path]] = content
            self._remember(made.sha, files)
        return made.sha

    def _element(self, path: str, content: bytes | None) -> InputGitTreeElement:
        if content is None:
            return InputGitTreeElement(path, "100644", "blob", sha=None)  # sha null deletes
        try:
            return InputGitTreeElement(path, "100644", "blob", content=content.decode("utf-8"))
        except UnicodeDecodeError:
            encoded = base64.b64encode(content).decode()
            blob = self.api.call(
                "create blob", lambda: self.api.repo.create_git_blob(encoded, "base64"), write=True
            )
            return InputGitTreeElement(path, "100644", "blob", sha=blob.sha)

    def _tree_of(self, commit: str) -> str:
        if commit not in self._trees:
            self._trees[commit] = self.api.call(
                "read commit", lambda: self.api.repo.get_git_commit(commit).tree.sha, write=False
            )
        return self._trees[commit]

    def advance(self, branch: str, new: str) -> bool:
        create = branch in self._absent
        for _ in range(3):  # create, or update; each may find the other was needed
            try:
                if create:
                    self.api.call(
                        f"create branch {branch}",
                        lambda: self.api.repo.create_git_ref(f"refs/heads/{branch}", new),
                        write=True,
                    )
                    self._created.add(branch)
                else:
                    # force=False: GitHub refuses what is not a fast-forward. A retry after a
                    # lost answer finds the ref already at `new`, which is a fast-forward too.
                    self.api.call(
                        f"move branch {branch}",
                        lambda: lazy_ref(self.api.repo, branch).edit(new, force=False),
                        write=True,
                    )
            except ApiError as refused:
                if refused.status != 422:  # noqa: PLR2004
                    raise
                text = refused.message.lower()
                if "already exists" in text or "does not exist" in text:
                    create = not create
                    continue
                self._trusted_until.pop(branch, None)
                return False  # not a fast-forward: the branch moved; the writer rebuilds
            self._heads[branch] = self._written[branch] = new
            self._trusted_until[branch] = self._clock() + TRUST_OWN_WRITE
            self._absent.discard(branch)
            return True
        return False

    def delete_branch(self, branch: str) -> None:
        try:
            self.api.call(
                f"delete branch {branch}",
                lambda: lazy_ref(self.api.repo, branch).delete(),
                write=True,
            )
        except ApiError as gone:
            if gone.status not in {404, 422}:  # already deleted
                raise
        self._forget_branch(branch)

    def _forget_branch(self, branch: str) -> None:
        self._trusted_until.pop(branch, None)
        self._heads.pop(branch, None)
        self._written.pop(branch, None)
        self._created.discard(branch)
        self._absent.add(branch)

    def added_in(self, branch: str, folder: str, origins: Mapping[str, str]) -> AddedIn:
        return added_in(self.api, branch, folder, origins, pages=self.history_pages)

    def removed_files(self, branch: str, folder: str) -> list[bytes]:
        """Nothing: the API would cost a request per commit of history to find deletions.

        After a lost database on GitHub the uid counter restarts above the uids on the
        branch and on open reviews; docs/operations.md says what that leaves open.
        """
        del branch, folder
        return []

    def close(self) -> None:
        self.api.close()

    def open_reviews(self, prefix: str) -> dict[str, str]:
        return self.pulls.open_branches(prefix)

    describes_reviews = True

    def open_review(self, review: Review) -> str | None:
        # A branch this process just created cannot have a pull request yet: skip the search.
        fresh = review.branch in self._created
        self._created.discard(review.branch)
        return self.pulls.open(review, fresh_branch=fresh)


def _snapshot(sha: str, listing: dict[str, str]) -> Snapshot:
    files, links = split_links(listing)
    return Snapshot(sha=sha, files=files, links=links)
