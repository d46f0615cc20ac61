"""Benchmark 2: how fast accepted signups reach a pushed commit on the local backend.

Run: python benchmarks/accept_to_commit.py [--runs 3] [--burst 3000] [--sustained 2000]
`gitops-bot serve` (4 web workers and the writer) pushing to a local bare remote. Each
event's time from its row in SQLite (received_at, when intake stored it before the 202)
to finished_at (when the writer recorded its commit pushed) gives the latency; tenants
per second is events / (last finished - first received). Baseline, in the same run: a
naive writer that, for each signup, writes the file in a work tree, then `git add`,
`git commit` and `git push` with GitPython.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import git

import loadgen
from common import (
    BOT,
    GIT_ENV,
    REPO,
    Goal,
    Section,
    Stat,
    bot,
    canonical,
    hosts,
    percentile,
    ratio,
    scratch,
    signups,
    stat,
    table,
    wait_settled,
)

GOAL_RATIO = 20
GOAL_P99 = 1.0
SUSTAINED_RATE = 200
SETTINGS_BATCH_LIMIT = 500  # GITOPS_BOT_BATCH_LIMIT's default


@dataclass(frozen=True)
class Pipeline:
    rate: Stat
    p50: Stat
    p99: Stat
    per_commit: Stat
    failed: int


def pipeline(*, runs: int, count: int, rate: float | None) -> Pipeline:
    """`count` signups into a fresh bot per run, as fast as it takes them or at `rate`/s."""
    rates, p50s, p99s, per_commit = [], [], [], []
    failed = 0
    for run in range(runs):
        with scratch("a2c") as root, bot(root) as running:
            requests = signups(f"r{run}", count)
            load = loadgen.run(running.port, requests, connections=16, rate=rate)
            if (refused := len(requests) - load.statuses().get(202, 0)) > 0:
                raise RuntimeError(f"{refused} signups were refused: {load.statuses()}")
            settled = wait_settled(running.database, expected=count)
        latencies = settled.latencies()
        rates.append(settled.rate())
        p50s.append(percentile(latencies, 50))
        p99s.append(percentile(latencies, 99))
        per_commit.append(len(latencies) / max(1, settled.commits))
        failed += settled.failed
    return Pipeline(stat(rates), stat(p50s), stat(p99s), stat(per_commit), failed)


def writer_alone(*, runs: int, count: int) -> Stat:
    """The writer's own pace: `count` signups queued first, then the writer started.

    Counted from its first commit to its last, so that its start-up is left out.
    """
    rates = []
    for run in range(runs):
        with scratch("writer") as root, bot(root, writer=False) as running:
            load = loadgen.run(running.port, signups(f"w{run}", count), connections=16)
            if load.statuses().get(202, 0) != count:
                raise RuntimeError(f"not every signup was accepted: {load.statuses()}")
            started = time.time()
            worker = subprocess.Popen([*BOT, "worker"], env=running.env, stderr=subprocess.DEVNULL)
            try:
                settled = wait_settled(running.database, expected=count)
            finally:
                worker.terminate()
                worker.wait(timeout=60)
        first, last = min(settled.finished), max(settled.finished)
        if last > first:
            rates.append(sum(1 for done in settled.finished if done > first) / (last - first))
        else:  # one commit took them all: count from the writer's start instead
            rates.append(count / (last - started))
    return stat(rates)


def naive_writer(root: Path, count: int, prefix: str) -> list[float]:
    """The baseline: one GitPython commit and push per signup; each one's seconds."""
    remote = root / f"{prefix}.git"
    git.Repo.init(remote, bare=True, initial_branch="main")
    work = git.Repo.init(root / prefix, initial_branch="main")
    work.git.update_environment(**GIT_ENV)
    (root / prefix / "tenants").mkdir()
    (root / prefix / "tenants" / "tenant.schema.json").write_bytes(
        (REPO / "tenants" / "tenant.schema.json").read_bytes()
    )
    work.index.add(["tenants/tenant.schema.json"])
    work.index.commit("Seed")
    origin = work.create_remote("origin", str(remote))
    origin.push("main:main").raise_if_error()
    names = hosts()
    seconds = []
    for i in range(count):
        started = time.perf_counter()
        slug = f"{prefix}-{i:05d}"
        document = {
            "$schema": "./tenant.schema.json",
            "createdAt": "2026-11-24T12:00:00Z",
            "domains": [],
            "host": names[i % len(names)],
            "origin": f"msg_{slug}",
            "plan": "pro",
            "schemaVersion": 1,
            "slug": slug,
            "state": "active",
            "uid": 0x70000000 + 500_000 + i,
        }
        path = f"tenants/{slug}.json"
        (root / prefix / path).write_text(canonical(document))
        work.index.add([path])
        work.index.commit(f"Add tenant {slug}\n\nGitops-Event: msg_{slug}\n")
        origin.push("main:main").raise_if_error()
        seconds.append(time.perf_counter() - started)
    work.close()
    return seconds


def baseline(*, runs: int, count: int) -> Stat:
    saved = {key: os.environ.get(key) for key in GIT_ENV}
    os.environ.update(GIT_ENV)  # GitPython's own commits read the identity from here
    try:
        rates = []
        for run in range(runs):
            with scratch("naive") as root:
                seconds = naive_writer(root, count, f"naive{run}")
            rates.append(count / sum(seconds))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return stat(rates)


def measure(
    *, runs: int = 3, burst: int = 3000, sustained: int = 2000, naive: int = 200
) -> Section:
    started = time.monotonic()
    fastest = pipeline(runs=runs, count=burst, rate=None)
    steady = pipeline(runs=runs, count=sustained, rate=SUSTAINED_RATE)
    alone = writer_alone(runs=runs, count=burst)
    naive_rate = baseline(runs=runs, count=naive)
    rows = [
        [
            f"pipeline, burst of {burst:,} as fast as intake takes them",
            fastest.rate.show(),
            fastest.p50.show(2),
            fastest.p99.show(2),
            fastest.per_commit.show(),
            ratio(fastest.rate.median, naive_rate.median),
        ],
        [
            f"pipeline, {sustained:,} arriving at {SUSTAINED_RATE}/s",
            steady.rate.show(),
            steady.p50.show(2),
            steady.p99.show(2),
            steady.per_commit.show(),
            "(the arrival rate)",
        ],
        [
            f"writer alone: {burst:,} queued first, then the writer started",
            alone.show(),
            "",
            "",
            f"up to {SETTINGS_BATCH_LIMIT}",
            ratio(alone.median, naive_rate.median),
        ],
        [
            f"baseline: GitPython add, commit, push per signup ({naive} signups)",
            naive_rate.show(),
            f"{1 / naive_rate.median:.3f} alone",
            _baseline_p99(naive_rate.median, sustained),
            "1",
            "1.0×",
        ],
    ]
    section = Section(
        title="2. Accept to commit, local backend",
        method=(
            "`gitops-bot serve --workers 4` with its writer pushing to a local bare remote, a "
            f"fresh state repo per run, {runs} runs per row. Signups arrive over HTTP as in "
            "figure 1. Latency runs from an event's `received_at` (stored before its 202) to "
            "its `finished_at` (recorded once its commit is pushed), read from the events "
            "table; tenants/s is events / (last finished − first received). The baseline "
            "writes each tenant file in a work tree, then `index.add`, `index.commit` and "
            "`remote.push` with GitPython, one signup at a time, in the same run; it starts "
            "from ready-made files, with no HTTP, signature or queue, which favours it. "
            "The first row is bounded by intake (figure 1), which shares the two cores with "
            "the writer; the writer-alone row shows the writer's own pace."
        ),
    )
    section.tables.append(
        table(
            [
                "setup",
                "tenants/s",
                "p50 (s)",
                "p99 (s)",
                "events per commit",
                "ratio to baseline",
            ],
            rows,
        )
    )
    failed = fastest.failed + steady.failed
    if failed:
        section.notes.append(f"**{failed} events failed at commit time.**")
    section.goals.extend(
        [
            Goal(
                f"at least {GOAL_RATIO}× the baseline's tenants/s",
                fastest.rate.median >= GOAL_RATIO * naive_rate.median,
                ratio(fastest.rate.median, naive_rate.median),
            ),
            Goal(
                f"p99 under {GOAL_P99:.0f} s at {SUSTAINED_RATE} signups/s",
                steady.p99.median < GOAL_P99,
                f"{steady.p99.median:.2f} s",
            ),
        ]
    )
    section.seconds = time.monotonic() - started
    return section


def _baseline_p99(rate: float, count: int) -> str:
    """At 200/s a writer slower than that falls behind for the whole burst."""
    if rate >= SUSTAINED_RATE:
        return "n/a"
    behind = count / rate - count / SUSTAINED_RATE
    return f"over {behind:.0f} (it falls behind: the last of {count:,} waits that long)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--sustained", type=int, default=2000)
    parser.add_argument("--naive", type=int, default=200, help="signups for the baseline")
    args = parser.parse_args()
    section = measure(runs=args.runs, burst=args.burst, sustained=args.sustained, naive=args.naive)
    print(section.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
