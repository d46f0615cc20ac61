"""Benchmark 8: the GitHub backend's snapshot of a 10,000- to 100,000-file tree, through the fake.

Run: python benchmarks/github_snapshot.py [--runs 3] [--sizes 10000,100000]
A fresh GitHubRepo (a new process: nothing remembered) reads the branch of a fleet repo
(benchmarks/fleets.py) pushed into the fake GitHub: the snapshot (the file listing), then
the contents of every tenant file. The fake truncates a recursive listing as GitHub does
(100,000 entries or 7 MB), so past about 37,000 tenants the backend lists folder by
folder. Baseline: `git ls-tree -r` of the same commit on the fake's own repo, no HTTP.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import (  # noqa: E402
    SECRET,
    Goal,
    Section,
    Stat,
    git,
    linear_growth,
    ratio,
    scratch,
    sized_main,
    stat,
    table,
)
from fakegithub import FakeGitHub  # noqa: E402
from fleets import fleet_repo, push_into  # noqa: E402
from gitops_bot.backends.github import GitHubRepo  # noqa: E402
from gitops_bot.config import Settings  # noqa: E402
from gitops_bot.store.queue import Store  # noqa: E402
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
    rows, per_thousand, how = [], {}, {}
    for size in sizes:
        with scratch("snapshot") as work, FakeGitHub(work / "github") as gh:
            push_into(fleet_repo(size), gh.repo_path)
            settings = _settings(gh, work / "var")
            with Store(settings.database_path) as store:  # where the backend counts requests
                store.migrate()
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
                listing_requests = list(gh.requests)
                if snapshot is None or len(snapshot.files) <= size:
                    raise RuntimeError("the snapshot lacks tenants")
                repo.read_blobs(list(snapshot.files.values()))
                contents.append(time.perf_counter() - listed)
                listing.append(listed - begun)
                trees = [r for r in listing_requests if "/git/trees/" in r.path]
                tarball = any("tarball" in r.path for r in listing_requests)
                requests = len(gh.requests)
                how[size] = "tarball" if tarball else "by folder" if len(trees) > 1 else "one tree"
                repo.close()
            local = []
            for _ in range(runs):
                begun = time.perf_counter()
                git(gh.repo_path, "ls-tree", "-r", "main")
                local.append(time.perf_counter() - begun)
        snap, read, base = stat(listing), stat(contents), stat(local)
        total = stat([a + b for a, b in zip(listing, contents, strict=True)])
        per_thousand[size] = total.median / size * 1000
        rows.append(_row(size, snap, read, total, base, requests=requests, how=how[size]))
    section = Section(
        title="9. GitHub snapshot at fleet size (fake GitHub)",
        method=(
            "A fleet repo of N tenants (`benchmarks/fleets.py`) pushed into the fake GitHub; "
            f"a fresh `GitHubRepo` per run ({runs} runs) takes `snapshot('main')` (the ref "
            "and the file listing) and then reads every watched file's contents (one tarball). "
            "The fake truncates a recursive tree listing as GitHub documents it: past 100,000 "
            "entries or 7 MB of JSON (about 37,000 files at this path length); the backend "
            "then lists the root, and each watched folder, and a folder whose own recursive "
            "listing is truncated without recursion; a folder over 100,000 entries (100,000 "
            "tenants and the schema) cannot be listed at all, and the listing then comes from "
            "the commit's tarball, with the contents. Baseline: `git ls-tree -r` of the same "
            "commit on the fake's repo, no HTTP; the ratio is of both reads to it."
        ),
    )
    section.tables.append(
        table(
            [
                "tenants",
                "snapshot (ms)",
                "contents (ms)",
                "both (ms)",
                "requests",
                "listed",
                "baseline: git ls-tree (ms)",
                "ratio",
            ],
            rows,
        )
    )
    if len(sizes) > 1:
        section.goals.append(linear_growth(per_thousand, what="first read's time per tenant"))
    if max(sizes) >= 100_000:
        section.goals.append(
            Goal(
                f"{max(sizes):,} tenants read whole, past the truncation",
                how[max(sizes)] != "one tree",
                f"listed {how[max(sizes)]}",
            )
        )
    section.seconds = time.monotonic() - started
    return section


def _row(
    size: int, snap: Stat, read: Stat, total: Stat, base: Stat, *, requests: int, how: str
) -> list[str]:
    return [
        f"{size:,}",
        snap.show(0, 1000),
        read.show(0, 1000),
        total.show(0, 1000),
        str(requests),
        how,
        base.show(0, 1000),
        ratio(total.median, base.median),
    ]


def main() -> int:
    return sized_main(measure, __doc__ or "", runs=3, sizes="10000,100000")


if __name__ == "__main__":
    sys.exit(main())
