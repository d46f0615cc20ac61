"""Benchmark 7: recovery after a lost database, on both backends, at 10,000 to 100,000 tenants.

Run: python benchmarks/recovery.py [--sizes 10000,100000] [--history-pages 50]
Each size is a state repo of that many tenants and as many commits (benchmarks/fleets.py:
bursts of 1,000 tenants, each a commit with their event trailers, among commits outside
tenants/). The writer's first read after a lost database (`Writer.head()` on an empty queue
file, with the writer's clone or process otherwise warm) recovers every tenant; baseline:
the same read after a restart with the queue intact, in the same run. Local: GitPython on
a clone of the repo. GitHub: the same repo pushed into the fake GitHub, the governor at its
defaults on a clock shared with the fake (its waits are counted as GitHub time, not slept).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from common import (  # noqa: E402
    ADMIN_TOKEN,
    SECRET,
    STATUS_TOKEN,
    Goal,
    Section,
    linear_growth,
    ratio,
    scratch,
    table,
)
from fakegithub import FakeGitHub  # noqa: E402
from fleets import fleet_repo, push_into  # noqa: E402
from gitops_bot.backends.base import StateRepo  # noqa: E402
from gitops_bot.backends.github import GitHubRepo  # noqa: E402
from gitops_bot.backends.github_history import HISTORY_PAGES  # noqa: E402
from gitops_bot.backends.local import LocalGitRepo  # noqa: E402
from gitops_bot.config import Settings  # noqa: E402
from gitops_bot.store.queue import Store  # noqa: E402
from gitops_bot.writer.writer import Writer  # noqa: E402
from helpers import FakeGitHubClock  # noqa: E402


@dataclass(frozen=True)
class Result:
    backend: str
    tenants: int
    recovery: float  # seconds, the writer's first read on an empty queue file
    restart: float  # the same read with the queue intact: the baseline
    recovered: int
    with_commit: int
    requests: Counter[str] | None = None  # GitHub: requests of the recovery, by kind
    github_seconds: float = 0.0  # the governor's waits during the recovery


def _settings(state_dir: Path, **changes: object) -> Settings:
    return Settings(
        state_dir=state_dir,
        webhook_secret=SECRET,
        status_token=STATUS_TOKEN,
        admin_token=ADMIN_TOKEN,
        synchronous="NORMAL",
        **changes,
    )


def _read(settings: Settings, repo: StateRepo) -> float:
    with Store(settings.database_path, synchronous="NORMAL") as store:
        store.migrate()
        started = time.perf_counter()
        Writer(store=store, repo=repo, settings=settings).head()
        return time.perf_counter() - started


def _lost(settings: Settings) -> Settings:
    """The same bot with a new, empty queue file: the old one is lost."""
    return settings.model_copy(update={"database": settings.state_dir / "lost.sqlite3"})


def _recovered(settings: Settings) -> tuple[int, int]:
    with closing(sqlite3.connect(settings.database_path)) as db:
        (count, known) = db.execute(
            "SELECT count(*), count(commit_sha) FROM transitions WHERE status = 'committed'"
        ).fetchone()
    return int(count), int(known)


def local(tenants: int, work: Path) -> Result:
    settings = _settings(work / "var", remote=str(fleet_repo(tenants)))
    opened: Callable[[], LocalGitRepo] = lambda: LocalGitRepo(  # noqa: E731
        settings.remote_url, settings.writer_clone
    )
    first = opened()
    _read(settings, first)  # the clone's first fetch: not measured
    first.close()
    repo = opened()
    restart = _read(settings, repo)
    repo.close()
    repo = opened()
    recovery = _read(_lost(settings), repo)
    repo.close()
    return Result("local", tenants, recovery, restart, *_recovered(_lost(settings)))


@contextmanager
def _fake_github(tenants: int, work: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(work / "github") as gh:
        push_into(fleet_repo(tenants), gh.repo_path)
        yield gh


def _kind(method: str, path: str) -> str:
    for part, kind in (
        ("/git/trees/", "tree"),
        ("/_codeload/", "archive download"),
        ("/tarball", "archive link"),
        ("/commits", "commit list"),
        ("/git/ref", "ref"),
        ("/pulls", "pull requests"),
        ("/graphql", "graphql"),
    ):
        if part in path:
            return kind
    return "repository" if path.count("/") == 4 else f"{method} {path}"


def github(tenants: int, work: Path, pages: int) -> Result:
    with _fake_github(tenants, work) as gh:
        clock = FakeGitHubClock(gh)
        settings = _settings(
            work / "var",
            backend="github",
            github_repository=gh.full_name,
            github_api_url=gh.base_url,
            github_token=gh.token,
            github_webhook_secret="unused-here-" + "0" * 32,
        )

        def opened() -> GitHubRepo:
            return GitHubRepo.from_settings(settings, clock=clock, history_pages=pages)

        # Each read is a new process's: nothing remembered from the one before.
        _read(settings, opened())
        restart = _read(settings, opened())
        gh.reset_log()
        slept = len(clock.slept)
        recovery = _read(_lost(settings), opened())
        requests = Counter(_kind(r.method, r.path) for r in gh.requests)
        waited = sum(clock.slept[slept:])
    return Result(
        "GitHub (fake)",
        tenants,
        recovery,
        restart,
        *_recovered(_lost(settings)),
        requests=requests,
        github_seconds=waited,
    )


def measure(
    *, sizes: tuple[int, ...] = (10_000, 100_000), history_pages: int = HISTORY_PAGES
) -> Section:
    started = time.monotonic()
    results: list[Result] = []
    for size in sizes:
        with scratch("recovery-local") as work:
            results.append(local(size, work))
        with scratch("recovery-github") as work:
            results.append(github(size, work, history_pages))
    rows = [
        [
            r.backend,
            f"{r.tenants:,}",
            f"{r.recovery:.2f}",
            f"{r.restart:.2f}",
            ratio(r.recovery, r.restart),
            f"{r.with_commit:,} of {r.recovered:,}",
            "-" if r.requests is None else f"{sum(r.requests.values())}",
            "-"
            if r.requests is None
            else ", ".join(f"{n} {kind}" for kind, n in sorted(r.requests.items())),
            "-" if r.requests is None else f"{r.github_seconds:.0f}",
        ]
        for r in results
    ]
    section = Section(
        title="8. Recovery after a lost database",
        method=(
            "A state repo of N tenants and N commits, built with `git fast-import` "
            "(`benchmarks/fleets.py`): the tenants arrive in bursts of 1,000, each one commit "
            "carrying a `Gitops-Event` trailer per tenant as the writer writes them, among "
            "commits that change a file outside `tenants/`. Recovery: the writer's first "
            "read (`Writer.head()`) on an empty queue file, which records every tenant as "
            "`committed` at the commit that added it. Baseline: the same read after a restart "
            "with the queue intact (the tree read and checked, nothing recovered), in the same "
            "run. Local: a warm clone, as the writer's clone survives a lost database. GitHub: "
            "the same repo pushed into the fake GitHub and read by a fresh backend (a new "
            f"process remembers nothing), the history search capped at {history_pages} pages; "
            "the governor keeps its defaults on a clock shared with the fake, so its waits "
            "count as GitHub time and are not slept. One run per figure."
        ),
    )
    section.tables.append(
        table(
            [
                "backend",
                "tenants",
                "recovery (s)",
                "baseline: restart (s)",
                "ratio",
                "with their commit",
                "requests",
                "by kind",
                "governor waits (s)",
            ],
            rows,
            text=1,
        )
    )
    for backend in ("local", "GitHub (fake)"):
        mine = {r.tenants: r.recovery / r.tenants * 1000 for r in results if r.backend == backend}
        if len(mine) > 1:
            section.goals.append(linear_growth(mine, what=f"{backend} recovery time per tenant"))
    for r in results:
        if r.requests is not None and r.tenants == max(sizes):
            section.goals.append(
                Goal(
                    f"GitHub recovery of {r.tenants:,} tenants inside the rate governor",
                    sum(r.requests.values()) < 5000 * 0.1,
                    f"{sum(r.requests.values())} requests, {r.github_seconds:.0f} s of waits",
                )
            )
    section.notes.append(
        "GitHub's commit list is read newest first, a page of 100 commits touching "
        f"`tenants/` per request, at most {history_pages} pages. With bursts of 1,000 tenants "
        "a page covers 100,000 tenants. A fleet grown one signup per commit needs a page per "
        "100 tenants: past the cap's 5,000 commits the older tenants are recovered without "
        "their commit, and the log and `/admin` say how many "
        "(`tests/backends/test_github_writer.py` reaches the cap with one page)."
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--history-pages", type=int, default=HISTORY_PAGES)
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    print(measure(sizes=sizes, history_pages=args.history_pages).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
