"""Trees on a BareRepo: listing, building in a temporary index, diffing, merging and archiving."""

from __future__ import annotations

import gzip
import io
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fakegithub.gitrepo import ZERO_SHA, BareRepo, CommitData, Signature

BLOB_MODES = frozenset({"100644", "100755", "120000"})
ALL_MODES = BLOB_MODES | {"040000", "160000"}
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class TreeError(ValueError):
    """A tree request names something that is not there; GitHub answers 422."""


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str
    sha: str
    size: int | None
    path: str


@dataclass(frozen=True)
class TreeChange:
    """One entry of a POST /git/trees body after validation: sha None deletes the path."""

    path: str
    mode: str
    type: str
    sha: str | None


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added, removed, modified (renames are not detected, as with --no-renames)
    old_sha: str | None
    new_sha: str | None
    additions: int
    deletions: int


def ls_tree(repo: BareRepo, treeish: str, *, recursive: bool) -> list[TreeEntry]:
    args = ["ls-tree", "-z", "-l", "--full-tree"]
    if recursive:
        args += ["-r", "-t"]
    out = repo.run(*args, treeish).stdout.decode(errors="surrogateescape")
    entries = []
    for record in out.split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        mode, kind, sha, size = meta.split()
        # ls-tree prints trees as 040000; GitHub's API shows the same string.
        entries.append(TreeEntry(mode, kind, sha, int(size) if size != "-" else None, path))
    return entries


def _flat_files(repo: BareRepo, tree: str | None, prefix: str = "") -> dict[str, tuple[str, str]]:
    if tree is None:
        return {}
    return {
        prefix + e.path: (e.mode, e.sha)
        for e in ls_tree(repo, tree, recursive=True)
        if e.type != "tree"
    }


class _FileMap:
    """A flat path -> (mode, sha) map that also knows its directories.

    The directory set makes "is this path a directory?" O(1), so editing one path of a
    10,000-file tree does not scan every other path.
    """

    def __init__(self, files: dict[str, tuple[str, str]]) -> None:
        self.files = files
        self.dirs: set[str] = set()
        for path in files:
            self._add_parents(path)

    def _add_parents(self, path: str) -> None:
        parts = path.split("/")
        for i in range(1, len(parts)):
            self.dirs.add("/".join(parts[:i]))

    def drop(self, path: str) -> bool:
        """Remove a file or a whole directory; False when nothing was there."""
        removed = self.files.pop(path, None) is not None
        if path in self.dirs:
            under = [p for p in self.files if p.startswith(path + "/")]
            for p in under:
                del self.files[p]
            removed = removed or bool(under)
        return removed

    def put(self, path: str, mode: str, sha: str) -> None:
        self.drop(path)
        parts = path.split("/")
        for i in range(1, len(parts)):
            self.files.pop("/".join(parts[:i]), None)  # a file where a directory must now be
        self.files[path] = (mode, sha)
        self._add_parents(path)


def build_tree(repo: BareRepo, base_tree: str | None, changes: Sequence[TreeChange]) -> str:
    """The flat file map is edited in Python, then written through a temporary index.

    Working on the whole map keeps directory/file replacement simple, and one update-index
    call writes 10,000 entries in milliseconds.
    """
    files = _FileMap(_flat_files(repo, base_tree))
    for change in changes:
        if change.sha is None:
            if not files.drop(change.path):
                # GitHub's own answer when a deletion names a path the base tree lacks.
                raise TreeError("GitRPC::BadObjectState")
        elif change.type == "tree":
            files.drop(change.path)
            for path, (mode, sha) in _flat_files(repo, change.sha, change.path + "/").items():
                files.put(path, mode, sha)
        else:
            files.put(change.path, change.mode, change.sha)
    return write_tree(repo, files.files)


def write_tree(repo: BareRepo, files: Mapping[str, tuple[str, str]]) -> str:
    with tempfile.TemporaryDirectory(prefix="fakegithub-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        repo.run("read-tree", "--empty", env=env)
        info = "".join(f"{mode} {sha}\t{path}\0" for path, (mode, sha) in sorted(files.items()))
        repo.run("update-index", "-z", "--index-info", stdin=info.encode(), env=env)
        return repo.text("write-tree", env=env)


def commit_files(
    repo: BareRepo,
    parent: str | None,
    files: Mapping[str, bytes | None],
    message: str,
    signature: Signature,
) -> str:
    """A commit on top of parent that writes (or, for None, deletes) the given paths."""
    to_write = [(p, data) for p, data in files.items() if data is not None]
    shas = repo.write_blobs([data for _, data in to_write])
    changes = [
        TreeChange(p, "100644", "blob", sha) for (p, _), sha in zip(to_write, shas, strict=True)
    ]
    changes += [TreeChange(p, "100644", "blob", None) for p, data in files.items() if data is None]
    base = repo.read_commit(parent).tree if parent else None
    tree = build_tree(repo, base, changes)
    return repo.commit_tree(tree, [parent] if parent else [], message, signature, signature)


def diff(repo: BareRepo, old: str, new: str) -> list[FileChange]:
    raw = repo.run("diff-tree", "-r", "-z", "--no-renames", old, new).stdout.decode(
        errors="surrogateescape"
    )
    fields = raw.split("\0")
    changes: dict[str, tuple[str, str | None, str | None]] = {}
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        _, _, old_sha, new_sha, status = meta[1:].split()
        kind = {"A": "added", "D": "removed"}.get(status, "modified")
        changes[path] = (
            kind,
            None if old_sha == ZERO_SHA else old_sha,
            None if new_sha == ZERO_SHA else new_sha,
        )
    stats: dict[str, tuple[int, int]] = {}
    numstat = repo.run("diff-tree", "-r", "-z", "--no-renames", "--numstat", old, new)
    for record in numstat.stdout.decode(errors="surrogateescape").split("\0"):
        parts = record.split("\t")
        if len(parts) == 3:
            added, deleted, path = parts
            # Binary files show "-"; GitHub reports zero lines for them.
            stats[path] = (int(added) if added != "-" else 0, int(deleted) if deleted != "-" else 0)
    return [
        FileChange(path, kind, old_sha, new_sha, *stats.get(path, (0, 0)))
        for path, (kind, old_sha, new_sha) in sorted(changes.items())
    ]


def merge_trees(repo: BareRepo, ours: str, theirs: str) -> str | None:
    """The tree a real merge of two commits gives, or None on a conflict."""
    proc = repo.run("merge-tree", "--write-tree", "--no-messages", ours, theirs, ok=(0, 1))
    if proc.returncode == 1:
        return None
    return proc.stdout.decode().split("\n", 1)[0].strip()


def replay(repo: BareRepo, commit: CommitData, onto: str, committer: Signature) -> str | None:
    """Cherry-pick one commit onto another by a three-way read-tree; None on a conflict."""
    if len(commit.parents) != 1:
        return None
    with tempfile.TemporaryDirectory(prefix="fakegithub-replay-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        onto_tree = repo.read_commit(onto).tree
        base_tree = repo.read_commit(commit.parents[0]).tree
        repo.run(
            "read-tree", "-i", "-m", "--aggressive", base_tree, onto_tree, commit.tree, env=env
        )
        proc = repo.run("write-tree", env=env, ok=(0, 128))
        if proc.returncode != 0:
            return None
        tree = proc.stdout.decode().strip()
    return repo.commit_tree(tree, [onto], commit.message, commit.author, committer)


def tarball(repo: BareRepo, sha: str, prefix: str) -> bytes:
    """GitHub's tarball layout: one top directory named owner-repo-shortsha."""
    tar = repo.run("archive", "--format=tar", f"--prefix={prefix}/", sha).stdout
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(tar)
    return buf.getvalue()


def zipball(repo: BareRepo, sha: str, prefix: str) -> bytes:
    return repo.run("archive", "--format=zip", f"--prefix={prefix}/", sha).stdout


def entry_at(repo: BareRepo, commit: str, path: str) -> TreeEntry | None:
    """The tree entry at one path of a commit, without listing the rest of the tree."""
    out = repo.run("ls-tree", "-z", "-l", "--full-tree", commit, "--", path).stdout
    for record in out.decode(errors="surrogateescape").split("\0"):
        if not record:
            continue
        meta, found = record.split("\t", 1)
        if found == path:
            mode, kind, sha, size = meta.split()
            return TreeEntry(mode, kind, sha, int(size) if size != "-" else None, found)
    return None
