"""Benchmark: what a burst of 1,000 signups costs in GitHub requests, direct and by review.

Run: python benchmarks/github_economy.py [--signups 1000] [--arrival 300]

Signups arrive evenly over --arrival seconds through the real intake (the Flask app, signed
like a landing page signs them) while the real writer drains the queue into the GitHub
backend, against the fake GitHub of tests/fakegithub. Measured from the fake's request log:
requests per tenant, content-creating requests per tenant and in the busiest minute and
hour, and secondary-limit violations (GitHub's 80 a minute and 500 an hour).

What is scaled, exactly: time, and nothing else. The governor keeps its defaults (a second
between writes, 60 content-creating requests a minute, 400 an hour), but its waits move a
clock shared with the fake GitHub instead of sleeping; the fake's rate windows read that
clock, and the signups arrive on it. So hours of GitHub time pass in minutes of real time,
and every limit is met or broken exactly as it would be in real time.

Baseline, in the same run: one Contents API create_file (one commit) per tenant, paced the
way PyGithub paces by default (a second between writes) and waiting out Retry-After when
GitHub refuses, on the same shared clock.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from github import GithubException

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fakegithub import FakeGitHub  # noqa: E402
from gitops_bot.app import create_app  # noqa: E402
from gitops_bot.backends.github import GitHubRepo  # noqa: E402
from gitops_bot.config import Policy, Settings  # noqa: E402
from gitops_bot.queue import Store  # noqa: E402
from gitops_bot.writer import Writer  # noqa: E402
from helpers import (  # noqa: E402
    SECRET,
    STATUS_TOKEN,
    FakeGitHubClock,
    post_event,
    seed_files,
    signup,
    with_capacity,
)


@dataclass
class Row:
    approach: str
    tenants: int
    commits: int
    requests: int
    writes: int
    busiest_minute: int
    busiest_hour: int
    violations: int
    github_minutes: float
    real_seconds: float


def seed(workdir: Path, signups: int) -> dict[str, bytes]:
    """This repo's tenants/ and nix/inventory.json, with room on the hosts for the burst."""
    shutil.copytree(REPO / "tenants", workdir / "seed" / "tenants")
    (workdir / "seed" / "nix").mkdir(parents=True)
    inventory = (REPO / "nix" / "inventory.json").read_bytes()
    capacity = signups  # every host could take the whole burst
    (workdir / "seed" / "nix" / "inventory.json").write_bytes(with_capacity(inventory, capacity))
    return seed_files(workdir / "seed")


def busiest(gh: FakeGitHub, window: float) -> int:
    times = sorted(r.time for r in gh.requests if r.content_creating)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def arrivals(clock: FakeGitHubClock, count: int, spread: float) -> list[float]:
    start = clock.monotonic()
    return [start + spread * n / count for n in range(count)]


def bot(mode: str, signups: int, spread: float, workdir: Path) -> Row:
    """The bot: intake and writer, every tenant direct or every tenant by pull request."""
    with FakeGitHub(workdir / "github") as gh:
        gh.seed(seed(workdir, signups))
        clock = FakeGitHubClock(gh)
        settings = Settings(
            state_dir=workdir / "var",
            webhook_secret=SECRET,
            status_token=STATUS_TOKEN,
            synchronous="NORMAL",
            backend="github",
            github_repository=gh.full_name,
            github_api_url=gh.base_url,
            github_token=gh.token,
            github_webhook_secret="unused-here",  # noqa: S106 - no webhook in this run
            policy=Policy(default="pr" if mode == "pr" else "direct"),
            review_labels=("tenant",),
            review_reviewers=("alice",),
        )
        repo = GitHubRepo.from_settings(settings, clock=clock)
        with Store(settings.database_path, synchronous="NORMAL") as store:
            store.migrate()
            writer = Writer(store=store, repo=repo, settings=settings)
            writer.head()
            intake = create_app(settings).test_client()
            commits_before = len(gh.commit_messages())
            gh.reset_log()
            due = arrivals(clock, signups, spread)
            posted = 0

            def arrive() -> None:
                nonlocal posted
                while posted < signups and due[posted] <= clock.monotonic():
                    answer = post_event(intake, signup(f"burst-{posted:04d}", plan="pro"))
                    assert answer.status_code == 202, answer.json
                    posted += 1

            clock.while_sleeping.append(arrive)
            started, real = clock.monotonic(), time.monotonic()
            while posted < signups or store.pending_count():
                arrive()
                if store.pending_count():
                    writer.drain_once()
                elif posted < signups:
                    clock.advance(max(due[posted] - clock.monotonic(), 0.0))
            finished = clock.monotonic()
        landed = len(gh.pulls) if mode == "pr" else len(gh.commit_messages()) - commits_before
        return _row(
            f"bot, {'pull request per tenant' if mode == 'pr' else 'direct'}",
            gh,
            tenants=signups,
            commits=landed,
            span=finished - started,
            real=time.monotonic() - real,
        )


def naive(signups: int, spread: float, workdir: Path) -> Row:
    """One create_file per tenant, a second between writes, Retry-After waited out."""
    with FakeGitHub(workdir / "naive") as gh:
        gh.seed(seed(workdir / "n", signups))
        clock = FakeGitHubClock(gh)
        with gh.client() as client:  # pacing and retries are done below, on the shared clock
            repo = client.get_repo(gh.full_name)
            gh.reset_log()
            due = arrivals(clock, signups, spread)
            started, real = clock.monotonic(), time.monotonic()
            last_write = -1e9
            for n, moment in enumerate(due):
                clock.advance(max(moment - clock.monotonic(), 0.0))
                content = json.dumps({"slug": f"burst-{n:04d}", "plan": "pro"}) + "\n"
                while True:
                    clock.advance(max(last_write + 1.0 - clock.monotonic(), 0.0))
                    try:
                        repo.create_file(f"tenants/burst-{n:04d}.json", f"Add {n}", content)
                        break
                    except GithubException as refused:
                        if refused.status not in {403, 429}:
                            raise
                        clock.advance(float((refused.headers or {}).get("retry-after", 60)))
                    finally:
                        last_write = clock.monotonic()
            finished = clock.monotonic()
        return _row(
            "naive: Contents API, one commit per tenant",
            gh,
            tenants=signups,
            commits=signups,
            span=finished - started,
            real=time.monotonic() - real,
        )


def _row(name: str, gh: FakeGitHub, *, tenants: int, commits: int, span: float, real: float) -> Row:
    return Row(
        approach=name,
        tenants=tenants,
        commits=commits,
        requests=len(gh.requests),
        writes=sum(r.content_creating for r in gh.requests),
        busiest_minute=busiest(gh, 60.0),
        busiest_hour=busiest(gh, 3600.0),
        violations=len(gh.violations),
        github_minutes=span / 60,
        real_seconds=real,
    )


def table(rows: list[Row]) -> str:
    lines = [
        (
            "| approach | tenants | commits or PRs | requests | requests/tenant | writes/tenant "
            "| busiest minute | busiest hour | violations | GitHub time | real time |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.approach} | {r.tenants} | {r.commits} | {r.requests} "
        f"| {r.requests / r.tenants:.2f} | {r.writes / r.tenants:.2f} "
        f"| {r.busiest_minute} | {r.busiest_hour} | {r.violations} "
        f"| {r.github_minutes:.0f} min | {r.real_seconds:.0f} s |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=1000)
    parser.add_argument(
        "--arrival", type=float, default=300.0, help="seconds over which the burst arrives"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("github").setLevel(logging.ERROR)  # no retry chatter from PyGithub
    runs: list[tuple[str, Callable[[Path], Row]]] = [
        ("direct", lambda d: bot("direct", args.signups, args.arrival, d)),
        ("pr", lambda d: bot("pr", args.signups, args.arrival, d)),
        ("naive", lambda d: naive(args.signups, args.arrival, d)),
    ]
    rows = []
    for name, run in runs:
        with tempfile.TemporaryDirectory(prefix=f"github-economy-{name}-") as workdir:
            rows.append(run(Path(workdir)))
        print(f"{name}: done in {rows[-1].real_seconds:.0f} s", file=sys.stderr)
    print(f"{args.signups} signups arriving over {args.arrival:.0f} s (GitHub time)\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
