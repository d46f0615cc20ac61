"""Fleet-size state repos for the benchmarks, built in one `git fast-import` and kept per run.

Writing 100,000 tenant files one by one and committing them with `git add` takes minutes;
fast-import writes the same repo from one stream in seconds. Each repo is built once per
run, under a temp directory that goes away with the run (`GITOPS_BOT_BENCH_CACHE` names a
directory to use instead), and every figure that needs it clones it.

A repo of `tenants` tenants and `commits` commits: a first commit with nix/ (every host
large enough for the fleet) and the schema, then the tenants in bursts of `burst`, each
burst one commit whose message carries a `Gitops-Event` trailer per tenant as the writer
writes them; the rest of the commits change a file outside tenants/ (`CHANGES`), spread
evenly between the bursts, so that the history is long without every commit rewriting
the 100,000-entry tenants/ tree (about 90 ms a commit at that size, for fast-import).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import GIT_ENV, REPO, canonical, git, hosts, tenant_document

_cache: Path | None = None


def cache_dir() -> Path:
    """This run's cache: made on first use, removed when the process ends."""
    global _cache  # noqa: PLW0603 - one cache per process, however many figures use it
    if named := os.environ.get("GITOPS_BOT_BENCH_CACHE"):
        return Path(named)
    if _cache is None:
        made = tempfile.mkdtemp(prefix="gitops-bot-bench-cache-")
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        _cache = Path(made)
    return _cache


def _blob(path: str, data: bytes) -> bytes:
    return b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)


def _commit(n: int, message: str, changes: list[bytes]) -> bytes:
    text = message.encode()
    head = (
        b"commit refs/heads/main\n"
        b"committer bench <bench@bench.invalid> %d +0000\n"
        b"data %d\n%s\n" % (1_700_000_000 + n, len(text), text)
    )
    return head + b"".join(changes) + b"\n"


def _nix_files(capacity: int) -> list[bytes]:
    changes = []
    for path in sorted((REPO / "nix").rglob("*")):
        relative = path.relative_to(REPO).as_posix()
        if path.is_file() and not relative.startswith("nix/tests/"):
            data = path.read_bytes()
            if relative == "nix/inventory.json":
                inventory = json.loads(data)
                for host in inventory["hosts"].values():
                    host["capacity"] = capacity
                data = (json.dumps(inventory, indent=2) + "\n").encode()
            changes.append(_blob(relative, data))
    schema = (REPO / "tenants" / "tenant.schema.json").read_bytes()
    return [*changes, _blob("tenants/tenant.schema.json", schema)]


def stream(tenants: int, commits: int, burst: int) -> bytes:
    """The fast-import stream of the repo described in the module's docstring."""
    names = hosts()
    bursts = -(-tenants // burst)
    fillers = max(commits - 1 - bursts, 0)
    parts = [_commit(0, "Seed the state repo\n", _nix_files(tenants))]
    n = 1
    for b in range(bursts):
        # The fillers before this burst, so that bursts spread over the whole history.
        for _ in range(fillers * (b + 1) // bursts - fillers * b // bursts):
            parts.append(_commit(n, f"Note {n}\n", [_blob("CHANGES", b"change %d\n" % n)]))
            n += 1
        first, last = b * burst, min((b + 1) * burst, tenants)
        files, trailers = [], []
        for i in range(first, last):
            document = tenant_document(i, names)
            files.append(_blob(f"tenants/{document['slug']}.json", canonical(document).encode()))
            trailers.append(f"Gitops-Event: {document['origin']}")
        message = f"Add {last - first} tenants\n\n" + "\n".join(trailers) + "\n"
        parts.append(_commit(n, message, files))
        n += 1
    return b"".join(parts)


def fleet_repo(tenants: int, *, commits: int | None = None, burst: int = 1000) -> Path:
    """A bare repo of `tenants` tenants and `commits` commits (default: as many as tenants)."""
    commits = tenants if commits is None else commits
    bare = cache_dir() / f"fleet-{tenants}-{commits}-{burst}.git"
    if not (bare / "HEAD").exists():
        building = bare.with_suffix(".building")
        shutil.rmtree(building, ignore_errors=True)
        git(building.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(building))
        subprocess.run(
            ["git", "--git-dir", str(building), "fast-import", "--quiet"],
            input=stream(tenants, commits, burst),
            check=True,
            env={**os.environ, **GIT_ENV},
        )
        building.rename(bare)
    return bare


def checkout(bare: Path, dest: Path) -> Path:
    """A working clone of `bare` at `dest`, files and all."""
    git(dest.parent, "clone", "--quiet", str(bare), str(dest))
    return dest


def push_into(bare: Path, target: Path) -> None:
    """Make `bare`'s main the main of the bare repo at `target` (a fake GitHub's)."""
    subprocess.run(
        ["git", "--git-dir", str(bare), "push", "--quiet", "--force", str(target),
         "main:refs/heads/main"],
        check=True, env={**os.environ, **GIT_ENV}, capture_output=True,
    )  # fmt: skip
