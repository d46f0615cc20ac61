"""Benchmark 1: signed signups per second accepted over real HTTP, and the latency of the 202.

Run: python benchmarks/intake.py [--runs 5] [--signups 2000] [--connections 16]
`gitops-bot serve --workers 4` (gunicorn gthread, writer included) on a fresh state repo;
the load generator (benchmarks/loadgen.py) replays pre-signed requests over keep-alive
connections from two processes. Baseline: GET /healthz on the same server, the ceiling of
gunicorn and Flask here. The generator's own ceiling is measured against a server that
does nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import loadgen
from common import Goal, Section, Stat, bot, percentile, ratio, scratch, signups, stat, table

GOAL_RATE = 500
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@dataclass(frozen=True)
class Setup:
    label: str
    synchronous: str
    writer: bool


SETUPS = (
    Setup("serve, synchronous=FULL (default)", "FULL", writer=True),
    Setup("serve, synchronous=NORMAL", "NORMAL", writer=True),
    Setup("web only (--no-writer), FULL", "FULL", writer=False),
)


@dataclass(frozen=True)
class Figures:
    rate: Stat
    p50: Stat
    p99: Stat
    generator_cores: Stat
    refused: int


def measure_setup(
    setup: Setup, *, runs: int, signups_per_run: int, connections: int
) -> tuple[Figures, Stat]:
    """Signups/s and latency on one server, and /healthz/s on the same server."""
    rates, p50s, p99s, cores = [], [], [], []
    refused = 0
    with (
        scratch("intake") as root,
        bot(
            root, writer=setup.writer, extra_env={"GITOPS_BOT_SYNCHRONOUS": setup.synchronous}
        ) as running,
    ):
        loadgen.run(running.port, signups("warm", 200), connections=connections)
        for run in range(runs):
            load = loadgen.run(
                running.port, signups(f"r{run}", signups_per_run), connections=connections
            )
            refused += sum(n for status, n in load.statuses().items() if status != 202)
            latencies = load.latencies()
            rates.append(load.rate())
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
            cores.append(load.generator_cpu / load.elapsed)
        healthz = [
            loadgen.run(running.port, [HEALTHZ] * signups_per_run, connections=connections).rate()
            for _ in range(max(1, runs // 2))
        ]
    return Figures(stat(rates), stat(p50s), stat(p99s), stat(cores), refused), stat(healthz)


def measure(
    *, runs: int = 5, signups_per_run: int = 2000, connections: int = 16, quick: bool = False
) -> Section:
    started = time.monotonic()
    setups = SETUPS[:1] if quick else SETUPS
    results = [
        (
            setup,
            *measure_setup(
                setup, runs=runs, signups_per_run=signups_per_run, connections=connections
            ),
        )
        for setup in setups
    ]
    ceiling = loadgen.ceiling(signups("ceiling", signups_per_run * 2), connections=connections)
    rows = []
    for setup, figures, healthz in results:
        rows.append(
            [
                setup.label,
                figures.rate.show(),
                figures.p50.show(1, 1000),
                figures.p99.show(1, 1000),
                healthz.show(),
                ratio(figures.rate.median, healthz.median),
                f"{figures.generator_cores.median:.2f}",
            ]
        )
    section = Section(
        title="1. Intake: signed signups accepted over HTTP",
        method=(
            f"`gitops-bot serve --workers 4` (gunicorn gthread, 4 threads each) on a fresh state "
            f"repo; {runs} runs of {signups_per_run:,} signed signups each (distinct slugs), "
            f"sent over {connections} keep-alive connections from 2 load-generator processes "
            "as fast as the server answers (closed loop). Requests are built and signed before "
            "the clock starts. Latency is from sending a request to reading its 202. Baseline: "
            "`GET /healthz` on the same server and connections, what gunicorn and Flask "
            "manage here with no work at all. Every row is median (min–max) over the runs."
        ),
    )
    section.tables.append(
        table(
            [
                "setup",
                "signups/s",
                "p50 (ms)",
                "p99 (ms)",
                "baseline /healthz/s",
                "ratio to baseline",
                "generator cores",
            ],
            rows,
        )
    )
    section.notes.append(
        f"The load generator alone, against a server that answers a canned 202: "
        f"{ceiling.rate():,.0f} requests/s using {ceiling.generator_cpu / ceiling.elapsed:.2f} "
        "cores. It is not what limits the figures above; it does share the machine's cores "
        "with the server (the 'generator cores' column is its CPU time over wall time)."
    )
    refused = sum(figures.refused for _, figures, _ in results)
    if refused:
        section.notes.append(f"**{refused} signups were not answered 202.**")
    default = results[0][1]
    section.goals.append(
        Goal(
            f"at least {GOAL_RATE} signups/s on 2 cores (default setup)",
            default.rate.median >= GOAL_RATE and not refused,
            f"{default.rate.median:,.0f}/s",
        )
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="the default setup only")
    args = parser.parse_args()
    section = measure(
        runs=args.runs,
        signups_per_run=args.signups,
        connections=args.connections,
        quick=args.quick,
    )
    print(section.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
