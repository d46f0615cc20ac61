"""The state repo as any git remote, written through a bare clone of the bot's own (GitPython)."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Final

import git

from gitops_bot.backends import BackendError, Review, Snapshot
from gitops_bot.gitrepo import init_bare, open_repo

# What the bot reads of a tree; everything else in the repo is carried over untouched.
WATCHED: Final = ("tenants", "nix")
_NULL_SHA: Final = "0" * 40


class LocalGitRepo:
    """A StateRepo over plain git: fetch, build commits with plumbing, push without force.

    Commits are built in a temporary index from blob ids, never in a work tree, so a crash
    cannot leave a half-written tenant file anywhere.
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
            stderr = str(failure.stderr).strip().replace("\n", " ")[:500]
            raise BackendError(f"git {args[0]} failed: {stderr}") from None
        return output

    def snapshot(self, branch: str) -> Snapshot | None:
        ref = self._remote_ref(branch)
        try:
            self.repo.git.fetch("--quiet", "--prune", "origin", f"+refs/heads/{branch}:{ref}")
        except git.GitCommandError as failure:
            if "couldn't find remote ref" in str(failure.stderr):
                return None
            stderr = str(failure.stderr).strip().replace("\n", " ")[:500]
            raise BackendError(f"git fetch failed: {stderr}") from None
        sha = self._git("rev-parse", "--verify", f"{ref}^{{commit}}")
        return Snapshot(sha=sha, files=self.list_files(sha))

    def list_files(self, sha: str) -> dict[str, str]:
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", sha, "--", *WATCHED)
        files = {}
        for entry in listing.split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            _mode, kind, blob = meta.split(" ")
            if kind == "blob":
                files[path] = blob
        return files

    def read_blobs(self, blob_ids: Collection[str]) -> dict[str, bytes]:
        # The odb keeps one `git cat-file --batch` running, so this is one process, not N.
        return {blob: self.repo.odb.stream(bytes.fromhex(blob)).read() for blob in blob_ids}

    def write_blobs(self, contents: Sequence[bytes], scratch: Path) -> list[str]:
        """Store `contents` as blobs, their ids in order: one git process for a whole batch.

        `git fast-import` writes a batch as one pack (or a few loose objects when small).
        GitPython's odb.store started one `git hash-object` per blob, and a file per blob
        is slow too where creating files is: a batch of 500 signups cost seconds.
        """
        if not contents:
            return []
        stream = bytearray()
        for mark, content in enumerate(contents, start=1):
            stream += b"blob\nmark :%d\ndata %d\n" % (mark, len(content))
            stream += content + b"\n"
        marks = scratch / "marks"
        self._git("fast-import", "--quiet", f"--export-marks={marks}", stdin=bytes(stream))
        ids = dict(line.split(" ", 1) for line in marks.read_text().splitlines())
        return [ids[f":{mark}"] for mark in range(1, len(contents) + 1)]

    def commit(
        self, parents: Sequence[str], changes: Mapping[str, bytes | None], message: str
    ) -> str:
        with tempfile.TemporaryDirectory(prefix="gitops-bot-index-") as scratch:
            written = {path: content for path, content in changes.items() if content is not None}
            ids = self.write_blobs(list(written.values()), Path(scratch))
            blobs = dict(zip(written, ids, strict=True))
            lines = [
                f"100644 {blobs[path]}\t{path}" if path in blobs else f"0 {_NULL_SHA}\t{path}"
                for path in sorted(changes)
            ]
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            with self.repo.git.custom_environment(**index):
                if parents:
                    self._git("read-tree", parents[0])
                self._git(
                    "update-index",
                    "--add",
                    "--remove",
                    "--index-info",
                    stdin="\n".join(lines) + "\n",
                )
                tree = self._git("write-tree")
                parent_args = [arg for parent in parents for arg in ("-p", parent)]
                return self._git("commit-tree", tree, *parent_args, "-F", "-", stdin=message)

    def advance(self, branch: str, new: str) -> bool:
        status, stdout, stderr = self.repo.git.execute(
            ["git", "push", "--porcelain", "origin", f"{new}:refs/heads/{branch}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status == 0:
            self._git("update-ref", self._remote_ref(branch), new)
            return True
        if any(line.startswith("!") for line in str(stdout).splitlines()):
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

    def open_review(self, review: Review) -> str | None:
        # Plain git has no pull requests: the pushed branch is the review, and
        # `gitops-bot approve SLUG` merges it.
        del review
        return None

    def added_in(self, branch: str, path: str) -> str | None:
        log = self._git(
            "log",
            "--first-parent",
            "--diff-filter=A",
            "--format=%H",
            self._remote_ref(branch),
            "--",
            path,
        )
        return log.split()[-1] if log.strip() else None

    def contains(self, branch: str, sha: str) -> bool:
        status, _, _ = self.repo.git.execute(
            ["git", "merge-base", "--is-ancestor", sha, self._remote_ref(branch)],
            with_extended_output=True,
            with_exceptions=False,
        )
        return status == 0
