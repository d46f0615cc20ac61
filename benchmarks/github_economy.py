"""Benchmark: what a burst of 1,000 signups costs in GitHub requests, direct and by review.

Run: python benchmarks/github_economy.py [--signups 1000] [--arrival 300] [--runs 3]

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

from common import Goal, Section, ratio, stat  # noqa: E402
from common import table as markdown_table  # noqa: E402
from fakegithub import FakeGitHub  # noqa: E402
from gitops_bot.backends.github import GitHubRepo  # noqa: E402
from gitops_bot.config import Settings  # noqa: E402
from gitops_bot.policy import Policy  # noqa: E402
from gitops_bot.server.app import create_app  # noqa: E402
from gitops_bot.store.queue import Store  # noqa: E402
from gitops_bot.writer.writer import Writer  # noqa: E402
from helpers import (  # noqa: E402
    ADMIN_TOKEN,
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


def bot(
    mode: str, signups: int, spread: float, workdir: Path, commit_window: float | None = None
) -> Row:
    """The bot: intake and writer, every tenant direct or every tenant by pull request.

    `commit_window` overrides the GitHub backend's default (15 s of gathering events before
    a commit); 0 commits whatever is queued as soon as the governor lets it write.
    """
    cap = {} if commit_window is None else {"commit_window": commit_window}
    with FakeGitHub(workdir / "github") as gh:
        gh.seed(seed(workdir, signups))
        clock = FakeGitHubClock(gh)
        settings = Settings(
            state_dir=workdir / "var",
            webhook_secret=SECRET,
            status_token=STATUS_TOKEN,
            admin_token=ADMIN_TOKEN,
            synchronous="NORMAL",
            backend="github",
            github_repository=gh.full_name,
            github_api_url=gh.base_url,
            github_token=gh.token,
            github_webhook_secret="unused-here-" + "0" * 32,  # no webhook in this run
            policy=Policy(default="pr" if mode == "pr" else "direct"),
            review_labels=("tenant",),
            review_reviewers=("alice",),
            **cap,
        )
        repo = GitHubRepo.from_settings(settings, clock=clock)
        with Store(settings.database_path, synchronous="NORMAL") as store:
            store.migrate()
            writer = Writer(store=store, repo=repo, settings=settings, clock=clock.monotonic)
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
                if store.pending_count() and writer.drain_once():
                    continue
                # Nothing to commit yet: the next signup is due, or the commit window is open.
                wait = due[posted] - clock.monotonic() if posted < signups else 1.0
                clock.advance(min(max(wait, 0.01), 1.0))
            finished = clock.monotonic()
        landed = len(gh.pulls) if mode == "pr" else len(gh.commit_messages()) - commits_before
        name = "pull request per tenant" if mode == "pr" else "direct"
        if commit_window is not None:
            name += f", commit window {commit_window:g} s"
        return _row(
            f"bot, {name}",
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


GOAL_REQUESTS_PER_TENANT = 0.1
# No commit window: every batch goes as soon as the governor allows, to show what it buys.
NO_WINDOW = 0.0


@dataclass(frozen=True)
class Approach:
    key: str
    label: str
    signups: int
    runs: int
    run: Callable[[Path], Row]


def approaches(signups: int, arrival: float, runs: int, pr_signups: int) -> list[Approach]:
    """What figure 3 runs. Direct mode, the goal's subject, runs `runs` times; the others'
    counts are fixed by construction (one pull request, or one create_file, per tenant),
    so one run each shows them, and pull requests are measured on fewer signups: the fake
    GitHub's git work takes about 0.15 s of real time per pull request."""
    return [
        Approach(
            "direct",
            "bot, direct",
            signups,
            runs,
            lambda d: bot("direct", signups, arrival, d),
        ),
        Approach(
            "eager",
            "bot, direct, no commit window",
            signups,
            1,
            lambda d: bot("direct", signups, arrival, d, commit_window=NO_WINDOW),
        ),
        Approach(
            "pr",
            "bot, pull request per tenant",
            pr_signups,
            1,
            lambda d: bot("pr", pr_signups, arrival * pr_signups / signups, d),
        ),
        Approach(
            "naive",
            "baseline: Contents API create_file per tenant",
            signups,
            1,
            lambda d: naive(signups, arrival, d),
        ),
    ]


def measure(
    *,
    signups: int = 1000,
    arrival: float = 300.0,
    runs: int = 3,
    pr_signups: int = 200,
    quick: bool = False,
) -> Section:
    """Issue 8, figure 3, as a section of docs/performance.md."""
    if quick:
        signups, arrival, runs, pr_signups = 20, 10.0, 1, 10
    started = time.monotonic()
    logging.getLogger("github").setLevel(logging.ERROR)  # no retry chatter from PyGithub
    plan = approaches(signups, arrival, runs, pr_signups)
    results: dict[str, list[Row]] = {}
    for approach in plan:
        results[approach.key] = []
        for _ in range(approach.runs):
            with tempfile.TemporaryDirectory(prefix=f"github-economy-{approach.key}-") as tmp:
                results[approach.key].append(approach.run(Path(tmp)))
    cap = Settings.model_fields["content_writes_per_minute"].default
    hourly = Settings.model_fields["content_writes_per_hour"].default

    def figure(key: str, value: Callable[[Row], float], digits: int = 0) -> str:
        return stat([value(row) for row in results[key]]).show(digits)

    def per_tenant(key: str) -> float:
        return stat([row.requests / row.tenants for row in results[key]]).median

    rows = [
        [
            approach.label,
            f"{approach.signups:,}",
            approach.runs,
            figure(approach.key, lambda r: r.commits),
            figure(approach.key, lambda r: r.requests / r.tenants, 3),
            figure(approach.key, lambda r: r.writes / r.tenants, 3),
            figure(approach.key, lambda r: r.busiest_minute),
            figure(approach.key, lambda r: r.busiest_hour),
            max(r.violations for r in results[approach.key]),
            figure(approach.key, lambda r: r.github_minutes),
            ratio(per_tenant(approach.key), per_tenant("naive")),
        ]
        for approach in plan
    ]
    section = Section(
        title="3. GitHub economy (fake GitHub)",
        method=(
            f"Signups arriving evenly ({signups:,} over {arrival:.0f} s of GitHub time) through "
            "the real intake (the Flask app, signed requests), drained by the real writer into "
            "the GitHub backend, against the fake GitHub of `tests/fakegithub` (real HTTP, a "
            "real bare repo behind it). Counted from the fake's request log: API requests and "
            "content-creating requests per tenant, and the most content-creating requests in "
            "any minute and any hour (GitHub's secondary limits: 80 a minute, 500 an hour; the "
            f"governor's defaults: {cap} a minute, {hourly} an hour). Only time is scaled: the "
            "governor's waits move a clock shared with the fake instead of sleeping, so hours "
            "of GitHub time pass in seconds and every limit is met or broken as it would be. "
            "Direct mode runs several times; the others' counts are fixed by construction "
            "(one pull request, or one `create_file`, per tenant), so one run shows them, and "
            "pull requests are counted on a smaller burst arriving at the same rate (the "
            "fake's git work costs about 0.15 s of real time per pull request). Baseline, in "
            "the same run: one Contents API `create_file` (one commit) per tenant, paced a "
            "second apart as PyGithub does, waiting out Retry-After."
        ),
    )
    section.tables.append(
        markdown_table(
            [
                "approach",
                "signups",
                "runs",
                "commits or PRs",
                "requests/tenant",
                "content writes/tenant",
                "busiest minute",
                "busiest hour",
                "limit violations",
                "GitHub time (min)",
                "requests/tenant vs baseline",
            ],
            rows,
        )
    )
    direct = results["direct"]
    worst_minute = max(r.busiest_minute for r in direct)
    section.goals.extend(
        [
            Goal(
                f"direct mode: at most {GOAL_REQUESTS_PER_TENANT} requests per tenant",
                per_tenant("direct") <= GOAL_REQUESTS_PER_TENANT,
                f"{per_tenant('direct'):.3f} with the defaults (15 s commit window), "
                f"{per_tenant('eager'):.3f} without a window",
            ),
            Goal(
                "direct mode: never more content-creating requests in a minute than the "
                f"configured cap ({cap})",
                worst_minute <= cap,
                f"at most {worst_minute} in any minute of any run",
            ),
        ]
    )
    section.notes.append(
        "A direct commit costs three requests (a tree, a commit, the ref update; the ref is "
        "not read again within 20 s of the bot's own write), so the requests per tenant "
        "depend on how many signups share a commit. By default the GitHub backend gathers "
        "events for 15 s (`GITOPS_BOT_COMMIT_WINDOW`) before committing: a signup waits up "
        "to that long for its commit, a small part of a deploy's minutes. Without the window "
        "the writer commits whenever the governor lets it write, about every 3 s."
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signups", type=int, default=1000)
    parser.add_argument(
        "--arrival", type=float, default=300.0, help="seconds over which the burst arrives"
    )
    parser.add_argument(
        "--runs", type=int, default=0, help="direct mode's runs, printed as a report section"
    )
    parser.add_argument(
        "--pr-signups", type=int, default=200, help="with --runs: the burst for pull requests"
    )
    args = parser.parse_args()
    if args.runs:
        section = measure(
            signups=args.signups, arrival=args.arrival, runs=args.runs, pr_signups=args.pr_signups
        )
        print(section.markdown())
        return 0
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
