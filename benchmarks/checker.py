"""Benchmark 4: `gitops-bot check` and `plan` on 100 to 100,000 tenants.

Run: python benchmarks/checker.py [--runs 5] [--sizes 100,1000,10000,100000]
Fleets are clones of benchmarks/fleets.py's repos. In-process: checker.check_files(
read_tree(root)). End to end: the `gitops-bot check` command (Python start-up included),
and `check --base HEAD` with one tenant changed on top of the committed fleet. Baseline:
reading every file and json.loads, nothing checked. Then that change is committed and
`gitops-bot plan --base HEAD~1` runs; its baseline is `git diff --name-only` of the same
two commits (the file-level diff the plan falls back to without Nix).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    BOT,
    GIT_ENV,
    Goal,
    Section,
    Stat,
    canonical,
    git,
    linear_growth,
    ratio,
    scratch,
    sized_main,
    stat,
    table,
)
from fleets import checkout, fleet_repo

GOAL_SECONDS = 1.0
# At fleet size the goal is a ratio: checking costs at most this many times parsing.
RATIO_GOAL = 4.0
# Seconds per 1,000 tenants at the largest size may be at most this much above the middle
# size's for growth to count as linear (noise on a shared machine included).


def timed(action: Callable[[], object], runs: int, *, warm: bool = True) -> Stat:
    if warm:
        action()  # warm the page cache and imports: the figure is checking, not disk
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return stat(samples)


def parse_only(root: Path) -> None:
    for path in (root / "tenants").iterdir():
        json.loads(path.read_bytes())


def in_process(root: Path) -> None:
    from gitops_bot.contract.checker import check_files, read_tree  # noqa: PLC0415

    report = check_files(read_tree(root))
    if not report.ok:
        raise RuntimeError(f"the generated fleet fails the checker: {report.problems[:3]}")


def command(root: Path, *args: str) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(
            [*BOT, "check", str(root), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **GIT_ENV},
        )

    return run


def plan(root: Path) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(
            [*BOT, "plan", "--repo", str(root), "--base", "HEAD~1"],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **GIT_ENV},
        )

    return run


def change_one(root: Path) -> None:
    """Suspend one tenant in the checkout, on top of the committed fleet."""
    path = root / "tenants" / "tenant00001.json"
    document = json.loads(path.read_text())
    document["state"] = "suspended"
    path.write_text(canonical(document))


def measure(
    *, runs: int = 5, sizes: tuple[int, ...] = (100, 1000, 10_000), plan_runs: int = 1
) -> Section:
    started = time.monotonic()
    rows, per_thousand = [], {}
    by_size: dict[int, dict[str, Stat]] = {}
    for size in sizes:
        with scratch("checker") as tmp:
            root = checkout(fleet_repo(size), tmp / "fleet")
            figures = {
                "parse": timed(lambda root=root: parse_only(root), runs),
                "in-process": timed(lambda root=root: in_process(root), runs),
                "command": timed(command(root), runs),
            }
            change_one(root)
            figures["--base"] = timed(command(root, "--base", "HEAD"), runs)
            git(root, "commit", "--quiet", "-am", "Suspend one tenant")
            # A minute and more at 100,000 tenants: one run, the checks before it warmed up.
            figures["plan"] = timed(plan(root), plan_runs, warm=False)
            figures["diff"] = timed(
                lambda root=root: git(root, "diff", "--name-only", "HEAD~1"), runs
            )
        per_thousand[size] = figures["in-process"].median / size * 1000
        by_size[size] = figures
        rows.append(
            [
                f"{size:,}",
                figures["in-process"].show(1, 1000),
                f"{per_thousand[size] * 1000:.1f}",
                figures["command"].show(1, 1000),
                figures["--base"].show(1, 1000),
                figures["parse"].show(1, 1000),
                ratio(figures["in-process"].median, figures["parse"].median),
                figures["plan"].show(0, 1000),
                ratio(figures["plan"].median, figures["diff"].median),
            ]
        )
    section = Section(
        title="4. Checker",
        method=(
            f"Fleets of generated tenants (every fifth with a custom domain) in a temp git "
            f"repo, {runs} runs per figure after one warm-up. In-process: "
            "`check_files(read_tree(root))`, reading the files included. Command: "
            "`gitops-bot check ROOT` end to end, Python start-up included; `--base`: "
            "`gitops-bot check ROOT --base HEAD` with one tenant changed in the checkout "
            "(the full check plus the comparison with the base). Baseline: reading every "
            "tenant file and `json.loads`, nothing checked. Plan: that change committed, "
            "`gitops-bot plan --repo ROOT --base HEAD~1` end to end (with nix-instantiate "
            "installed it evaluates the changed host at both revisions), one run; its baseline is "
            "`git diff --name-only HEAD~1`, the file-level diff it falls back to without Nix."
        ),
    )
    section.tables.append(
        table(
            [
                "tenants",
                "in-process (ms)",
                "ms per 1,000",
                "command (ms)",
                "command --base (ms)",
                "baseline: parse only (ms)",
                "ratio to baseline",
                "plan, one tenant changed (ms)",
                "ratio to git diff",
            ],
            rows,
        )
    )
    if (ten := by_size.get(10_000)) is not None:
        worst = max(ten["command"].median, ten["--base"].median)
        section.goals.append(
            Goal(
                f"10,000 tenants in under {GOAL_SECONDS:.0f} s (end to end, both modes)",
                worst < GOAL_SECONDS,
                f"{worst:.2f} s",
            )
        )
    biggest = max(sizes)
    if biggest > 10_000:
        figures = by_size[biggest]
        section.goals.append(
            Goal(
                f"{biggest:,} tenants checked in-process within {RATIO_GOAL:.0f}× parsing them",
                figures["in-process"].median <= RATIO_GOAL * figures["parse"].median,
                ratio(figures["in-process"].median, figures["parse"].median),
            )
        )
    if len(sizes) > 1:
        section.goals.append(linear_growth(per_thousand, what="in-process time per tenant"))
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    return sized_main(measure, __doc__ or "", runs=5, sizes="100,1000,10000")


if __name__ == "__main__":
    sys.exit(main())
