"""A bare git repository driven through git plumbing: objects, refs, commits and ancestry."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ZERO_SHA: Final = "0" * 40
SHA_RE: Final = re.compile(r"^[0-9a-f]{40}$")
_PACK_THRESHOLD: Final = 64
_IDENT_RE: Final = re.compile(
    r"^(?P<name>.*) <(?P<email>[^>]*)> (?P<epoch>-?\d+) (?P<tz>[+-]\d{4})$"
)


class GitError(RuntimeError):
    """A git command failed in a way the caller did not expect."""


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    epoch: int

    def env(self, role: str) -> dict[str, str]:
        # Raw "<epoch> <tz>" is git's internal date format, so nothing depends on the locale.
        return {
            f"GIT_{role}_NAME": self.name,
            f"GIT_{role}_EMAIL": self.email,
            f"GIT_{role}_DATE": f"{self.epoch} +0000",
        }


@dataclass(frozen=True)
class CommitData:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str


def _parse_ident(value: str) -> Signature:
    match = _IDENT_RE.match(value)
    if match is None:
        raise GitError(f"unparsable identity: {value!r}")
    return Signature(match["name"], match["email"], int(match["epoch"]))


class BareRepo:
    """Every call runs git with a clean environment, so the machine's git config cannot leak in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_DIR": str(path),
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "fake-github",
            "GIT_AUTHOR_EMAIL": "fake-github@example.invalid",
            "GIT_COMMITTER_NAME": "fake-github",
            "GIT_COMMITTER_EMAIL": "fake-github@example.invalid",
        }

    def init(self, default_branch: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.run("init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(self.path))
        # Thousands of loose objects are normal here; an automatic gc would only add latency.
        self.run("config", "gc.auto", "0")

    def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: Sequence[int] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {**self._env, **(env or {})}
        proc = subprocess.run(
            ["git", *args], input=stdin, env=full_env, capture_output=True, check=False
        )
        if proc.returncode not in ok:
            err = proc.stderr.decode(errors="replace").strip()
            raise GitError(f"git {' '.join(args)} exited {proc.returncode}: {err}")
        return proc

    def text(
        self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        return self.run(*args, stdin=stdin, env=env).stdout.decode().strip()

    # -- objects -----------------------------------------------------------------------------

    def object_types(self, shas: Sequence[str]) -> dict[str, str | None]:
        """One cat-file process for any number of objects: None marks a missing one."""
        if not shas:
            return {}
        out = self.run("cat-file", "--batch-check", stdin="".join(f"{s}\n" for s in shas).encode())
        types: dict[str, str | None] = {}
        for sha, line in zip(shas, out.stdout.decode().splitlines(), strict=True):
            parts = line.split()
            types[sha] = parts[1] if len(parts) == 3 and parts[1] != "missing" else None
        return types

    def object_type(self, sha: str) -> str | None:
        if not SHA_RE.match(sha):
            return None
        return self.object_types([sha])[sha]

    def resolve_commit(self, rev: str) -> str | None:
        """A branch, tag, full ref or sha to a commit sha; None when it names no commit."""
        if not rev or rev.startswith("-") or ".." in rev:
            return None
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            proc = self.run(
                "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", ok=(0, 1, 128)
            )
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
        return None

    def read_blob(self, sha: str) -> bytes:
        return self.run("cat-file", "blob", sha).stdout

    def read_blobs(self, shas: Sequence[str]) -> list[bytes]:
        """Many blobs through one cat-file --batch, for whole-tree reads."""
        if not shas:
            return []
        out = self.run("cat-file", "--batch", stdin="".join(f"{s}\n" for s in shas).encode()).stdout
        blobs, pos = [], 0
        for _ in shas:
            header_end = out.index(b"\n", pos)
            size = int(out[pos:header_end].split()[2])
            blobs.append(out[header_end + 1 : header_end + 1 + size])
            pos = header_end + 1 + size + 1  # the content is followed by a newline
        return blobs

    def write_blobs(self, contents: Sequence[bytes]) -> list[str]:
        """Hash and store blobs with one git process, however many there are."""
        if not contents:
            return []
        if len(contents) == 1:
            return [self.text("hash-object", "-w", "--no-filters", "--stdin", stdin=contents[0])]
        # fast-import packs 10,000 blobs in a fraction of a second, where loose objects take
        # seconds; small batches stay loose so a long run does not pile up thousands of packs.
        if len(contents) < _PACK_THRESHOLD:
            with tempfile.TemporaryDirectory(prefix="fakegithub-blobs-") as tmp:
                paths = []
                for i, data in enumerate(contents):
                    path = Path(tmp) / str(i)
                    path.write_bytes(data)
                    paths.append(str(path))
                out = self.run(
                    "hash-object",
                    "-w",
                    "--no-filters",
                    "--stdin-paths",
                    stdin="\n".join(paths).encode(),
                )
            return out.stdout.decode().split()
        stream = bytearray()
        for mark, data in enumerate(contents, 1):
            stream += b"blob\nmark :%d\ndata %d\n" % (mark, len(data)) + data + b"\n"
        stream += b"done\n"
        with tempfile.TemporaryDirectory(prefix="fakegithub-marks-") as tmp:
            marks = Path(tmp) / "marks"
            self.run(
                "fast-import", "--quiet", "--done", f"--export-marks={marks}", stdin=bytes(stream)
            )
            by_mark = dict(line.split() for line in marks.read_text().splitlines())
        return [by_mark[f":{mark}"] for mark in range(1, len(contents) + 1)]

    def read_commit(self, sha: str) -> CommitData:
        raw = self.run("cat-file", "commit", sha).stdout.decode(errors="replace")
        header, _, message = raw.partition("\n\n")
        tree, parents, author, committer = "", [], None, None
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_ident(value)
            elif key == "committer":
                committer = _parse_ident(value)
        if author is None or committer is None:
            raise GitError(f"commit {sha} lacks an author or committer")
        return CommitData(sha, tree, tuple(parents), author, committer, message)

    def commit_tree(
        self,
        tree: str,
        parents: Sequence[str],
        message: str,
        author: Signature,
        committer: Signature,
    ) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        env = {**author.env("AUTHOR"), **committer.env("COMMITTER")}
        return self.text(*args, stdin=message.encode(), env=env)

    # -- refs --------------------------------------------------------------------------------

    def ref(self, name: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", name, ok=(0, 1, 128))
        return (
            proc.stdout.decode().strip()
            if proc.returncode == 0 and name.startswith("refs/")
            else None
        )

    def refs(self) -> list[tuple[str, str]]:
        out = self.text("for-each-ref", "--format=%(refname) %(objectname)")
        return [tuple(line.split(" ", 1)) for line in out.splitlines() if line]  # type: ignore[misc]

    def update_ref(self, name: str, new: str, old: str | None) -> bool:
        """Compare-and-swap: old None means the ref must not exist yet."""
        proc = self.run("update-ref", name, new, old or ZERO_SHA, ok=(0, 1, 128))
        return proc.returncode == 0

    def delete_ref(self, name: str, old: str) -> bool:
        return self.run("update-ref", "-d", name, old, ok=(0, 1, 128)).returncode == 0

    # -- history -----------------------------------------------------------------------------

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = self.run("merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
        return proc.returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.run("merge-base", a, b, ok=(0, 1))
        return proc.stdout.decode().strip() or None

    def rev_list(self, *args: str) -> list[str]:
        return self.text("rev-list", *args).split()
