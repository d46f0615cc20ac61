"""Benchmark 8: the GitHub backend's snapshot of a 10,000- to 100,000-file tree, through the fake.

Run: python benchmarks/github_snapshot.py [--runs 3] [--sizes 10000,100000]
A fresh GitHubRepo (a new process: nothing remembered) reads the branch of a fleet repo
(benchmarks/fleets.py) pushed into the fake GitHub: the snapshot (the file listing), then
the contents of every tenant file. The fake truncates a recursive listing as GitHub does
(100,000 entries or 7 MB), so past about 37,000 tenants the backend lists folder by
folder. Baseline: `git ls-tree -r` of the same commit on the fake's own repo, no HTTP.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import SECRET, Goal, Section, Stat, git, linear_growth, ratio, scratch, stat, table  # noqa: E402
from fakegithub import FakeGitHub  # noqa: E402
from fleets import fleet_repo, push_into  # noqa: E402
from gitops_bot.backends.github import GitHubRepo  # noqa: E402
from gitops_bot.config import Settings  # noqa: E402
from helpers import FakeGitHubClock  # noqa: E402


def _settings(gh: FakeGitHub, state_dir: Path) -> Settings:
    return Settings(
        state_dir=state_dir,
        webhook_secret=SECRET,
        backend="github",
        github_repository=gh.full_name,
        github_api_url=gh.base_url,
        github_token=gh.token,
        github_webhook_secret="unused-here-" + "0" * 32,
    )


def measure(*, runs: int = 3, sizes: tuple[int, ...] = (10_000, 100_000)) -> Section:
    started = time.monotonic()
    rows, per_thousand, truncated = [], {}, {}
    for size in sizes:
        with scratch("snapshot") as work, FakeGitHub(work / "github") as gh:
            push_into(fleet_repo(size), gh.repo_path)
            settings = _settings(gh, work / "var")
            clock = FakeGitHubClock(gh)
            listing: list[float] = []
            contents: list[float] = []
            requests = 0
            for _ in range(runs):
                repo = GitHubRepo.from_settings(settings, clock=clock)
                gh.reset_log()
                begun = time.perf_counter()
                snapshot = repo.snapshot("main")
                listed = time.perf_counter()
                if snapshot is None or len(snapshot.files) <= size:
                    raise RuntimeError("the snapshot lacks tenants")
                repo.read_blobs(list(snapshot.files.values()))
                contents.append(time.perf_counter() - listed)
                listing.append(listed - begun)
                trees = [r for r in gh.requests if "/git/trees/" in r.path]
                requests, truncated[size] = len(gh.requests), len(trees) > 1
                repo.close()
            local = []
            for _ in range(runs):
                begun = time.perf_counter()
                git(gh.repo_path, "ls-tree", "-r", "main")
                local.append(time.perf_counter() - begun)
        snap, read, base = stat(listing), stat(contents), stat(local)
        per_thousand[size] = snap.median / size * 1000
        rows.append(_row(size, snap, read, base, requests, truncated=truncated[size]))
    section = Section(
        title="8. GitHub snapshot at fleet size (fake GitHub)",
        method=(
            "A fleet repo of N tenants (`benchmarks/fleets.py`) pushed into the fake GitHub; "
            f"a fresh `GitHubRepo` per run ({runs} runs) takes `snapshot('main')` (the ref "
            "and the file listing) and then reads every watched file's contents (one tarball). "
            "The fake truncates a recursive tree listing as GitHub documents it: past 100,000 "
            "entries or 7 MB of JSON (about 37,000 files at this path length); the backend "
            "then lists the root, and each watched folder, and a folder whose own recursive "
            "listing is truncated without recursion. Baseline: `git ls-tree -r` of the same "
            "commit on the fake's repo, no HTTP."
        ),
    )
    section.tables.append(
        table(
            [
                "tenants",
                "snapshot (ms)",
                "contents (ms)",
                "requests",
                "listing truncated",
                "baseline: git ls-tree (ms)",
                "ratio",
            ],
            rows,
        )
    )
    if len(sizes) > 1:
        section.goals.append(linear_growth(per_thousand, what="snapshot time per tenant"))
    if max(sizes) >= 100_000:
        section.goals.append(
            Goal(
                "a 100,000-file tenants/ folder is read whole, past the truncation",
                truncated[max(sizes)],
                "folder by folder" if truncated[max(sizes)] else "not truncated",
            )
        )
    section.seconds = time.monotonic() - started
    return section


def _row(
    size: int, snap: Stat, read: Stat, base: Stat, requests: int, *, truncated: bool
) -> list[str]:
    return [
        f"{size:,}",
        snap.show(0, 1000),
        read.show(0, 1000),
        str(requests),
        "yes" if truncated else "no",
        base.show(0, 1000),
        ratio(snap.median, base.median),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    print(measure(runs=args.runs, sizes=sizes).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
