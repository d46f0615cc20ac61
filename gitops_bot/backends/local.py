"""The state repo as any git remote, written through a bare clone of the bot's own (GitPython)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Final

import git

from gitops_bot.backends.base import SYMLINK_MODE, AddedIn, BackendError, Review, Snapshot
from gitops_bot.backends.gitrepo import BOT_EMAIL, BOT_NAME, git_says, init_bare, open_repo

# What the bot reads of a tree; everything else in the repo is carried over untouched.
WATCHED: Final = ("tenants", "nix")
# Where fast-import leaves the commit it builds, until advance() pushes it.
_SCRATCH_REF: Final = "refs/gitops-bot/commit"


class LocalGitRepo:
    """A StateRepo over plain git: fetch, build commits with plumbing, push without force.

    Commits are built by git fast-import from the parent's tree, never in a work tree, so
    a crash cannot leave a half-written tenant file anywhere.
    """

    def __init__(self, remote_url: str, clone_dir: Path) -> None:
        self.remote_url = remote_url
        if not (clone_dir / "HEAD").exists():
            repo = init_bare(clone_dir, branch="main")
            repo.create_remote("origin", remote_url)
        self.repo = open_repo(clone_dir)

    def close(self) -> None:
        """Stop the `git cat-file` processes the object database keeps running."""
        self.repo.close()

    def _remote_ref(self, branch: str) -> str:
        return f"refs/remotes/origin/{branch}"

    def _git(self, *args: str, stdin: str | bytes | None = None) -> str:
        try:
            if stdin is None:
                output: str = self.repo.git.execute(["git", *args])
            else:
                # Popen takes stdin from a real file descriptor, not a BytesIO.
                with tempfile.TemporaryFile() as feed:
                    feed.write(stdin.encode() if isinstance(stdin, str) else stdin)
                    feed.seek(0)
                    output = self.repo.git.execute(["git", *args], istream=feed)
        except git.GitCommandError as failure:
            raise BackendError(f"git {args[0]} failed: {git_says(failure)}") from None
        return output

    def snapshot(self, branch: str) -> Snapshot | None:
        ref = self._remote_ref(branch)
        try:
            self.repo.git.fetch("--quiet", "--prune", "origin", f"+refs/heads/{branch}:{ref}")
        except git.GitCommandError as failure:
            if "couldn't find remote ref" in str(failure.stderr):
                return None
            raise BackendError(f"git fetch failed: {git_says(failure)}") from None
        sha = self._git("rev-parse", "--verify", f"{ref}^{{commit}}")
        files, links = self.list_files(sha)
        return Snapshot(sha=sha, files=files, links=links)

    def list_files(self, sha: str) -> tuple[dict[str, str], frozenset[str]]:
        """The blob id of each watched file at `sha`, and the paths of its symlinks."""
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", sha, "--", *WATCHED)
        files = {}
        links = set()
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob = meta.split(" ")
            if kind == "blob" and mode == SYMLINK_MODE:
                links.add(path)
            elif kind == "blob":
                files[path] = blob
        return files, frozenset(links)

    def read_blobs(self, blob_ids: Collection[str]) -> dict[str, bytes]:
        # The odb keeps one `git cat-file --batch` running, so this is one process, not N.
        return {blob: self.repo.odb.stream(bytes.fromhex(blob)).read() for blob in blob_ids}

    def commit(
        self, parents: Sequence[str], changes: Mapping[str, bytes | None], message: str
    ) -> str:
        """The commit, built by one `git fast-import`: blobs, tree and commit together.

        fast-import writes a batch as one pack (loose objects below git's unpack limit),
        from the first parent's tree plus `changes`. The plumbing this replaces (a
        hash-object per blob, then read-tree, update-index, write-tree and commit-tree)
        cost a process per tenant file and four more per commit: under a burst, most of
        the writer's time. The commit is left on a scratch ref of the bot's own clone,
        which keeps it from being collected before it is pushed.
        """
        stamp = f"{BOT_NAME} <{BOT_EMAIL}> {int(time.time())} +0000"
        text = message.encode()
        # reset first: without a `from`, a commit would otherwise follow the ref's old tip.
        stream = bytearray(f"reset {_SCRATCH_REF}\ncommit {_SCRATCH_REF}\nmark :1\n".encode())
        stream += f"author {stamp}\ncommitter {stamp}\n".encode()
        stream += b"data %d\n%s\n" % (len(text), text)
        if parents:
            stream += f"from {parents[0]}\n".encode()
        for parent in parents[1:]:
            stream += f"merge {parent}\n".encode()
        for path, content in sorted(changes.items()):
            if content is None:
                stream += f"D {_quoted(path)}\n".encode()
            else:
                stream += f"M 100644 inline {_quoted(path)}\n".encode()
                stream += b"data %d\n%s\n" % (len(content), content)
        with tempfile.TemporaryDirectory(prefix="gitops-bot-commit-") as scratch:
            marks = Path(scratch) / "marks"
            # --force: the scratch ref moves to each new commit, whatever its parent.
            self._git(
                "fast-import", "--quiet", "--force", f"--export-marks={marks}", stdin=bytes(stream)
            )
            return marks.read_text().split()[1]

    def advance(self, branch: str, new: str) -> bool:
        status, stdout, stderr = self.repo.git.execute(
            ["git", "push", "--porcelain", "origin", f"{new}:refs/heads/{branch}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status == 0:
            self._git("update-ref", self._remote_ref(branch), new)
            return True
        if any(line.startswith("!") for line in str(stdout).split("\n")):
            return False  # rejected as not a fast-forward: the branch moved
        raise BackendError(f"git push failed: {str(stderr).strip()[:500]}")

    def delete_branch(self, branch: str) -> None:
        status, _, stderr = self.repo.git.execute(
            ["git", "push", "--porcelain", "origin", f":refs/heads/{branch}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0 and "remote ref does not exist" not in str(stderr):
            raise BackendError(f"git push failed: {str(stderr).strip()[:500]}")

    describes_reviews = False

    def open_review(self, review: Review) -> str | None:
        # Plain git has no pull requests: the pushed branch is the review, and
        # `gitops-bot approve SLUG` merges it.
        del review
        return None

    def open_reviews(self, prefix: str) -> dict[str, str]:
        # Every pushed review branch is an open review: `approve` deletes it as it merges.
        listing = self._git("ls-remote", "--heads", "origin")
        branches = (
            line.partition("\t")[2].removeprefix("refs/heads/") for line in listing.split("\n")
        )
        return {branch: branch for branch in branches if branch.startswith(prefix)}

    def added_in(self, branch: str, folder: str, origins: Mapping[str, str]) -> AddedIn:
        del origins  # the whole history is here: diffs answer exactly, for hand-made files too
        # One pass over history, newest first: a file re-added later keeps its first commit.
        log = self._git(
            "log",
            "--first-parent",
            "--diff-filter=A",
            "--name-only",
            "--format=commit %H",
            self._remote_ref(branch),
            "--",
            folder,
        )
        added: dict[str, str] = {}
        commit = ""
        for line in log.split("\n"):
            if line.startswith("commit "):
                commit = line.removeprefix("commit ")
            elif line:
                added[line] = commit
        return AddedIn(added)

    def removed_files(self, branch: str, folder: str) -> list[bytes]:
        # --raw names the blob each deletion removed: one pass over history, one batch read.
        log = self._git(
            "log", "--diff-filter=D", "--raw", "--no-abbrev", "--format=",
            self._remote_ref(branch), "--", folder,
        )  # fmt: skip
        blobs = {line.split()[2] for line in log.split("\n") if line.startswith(":")}
        return list(self.read_blobs(blobs).values()) if blobs else []

    def contains(self, branch: str, sha: str) -> bool:
        return self.descends(self._remote_ref(branch), sha) is True

    def descends(self, commit: str, ancestor: str) -> bool | None:
        status, _, _ = self.repo.git.execute(
            ["git", "merge-base", "--is-ancestor", ancestor, commit],
            with_extended_output=True,
            with_exceptions=False,
        )
        # 1 is git's "not an ancestor"; anything else is a commit this clone has not fetched.
        return {0: True, 1: False}.get(status)


def _quoted(path: str) -> str:
    """A path as fast-import reads it: C-style quoted, so that no name can end the line."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
