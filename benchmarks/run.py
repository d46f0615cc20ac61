"""Run every benchmark and write docs/performance.md (what `make bench` does).

Run: python benchmarks/run.py [--only intake,checker] [--quick] [--scale N] [--output PATH]
--quick runs each figure at a tiny size, to show the scripts still work (the tests do).
--scale sets the largest fleet of the fleet-size figures (100,000 by default).
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import REPO, Section, machine, table

# The largest fleet the fleet-size figures measure; `--scale` (BENCH_SCALE in the Makefile)
# changes it, and the figures' sizes that name it follow.
FLEET = 100_000


@dataclass(frozen=True)
class Figure:
    key: str
    module: str
    title: str
    full: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    function: str = "measure"


FIGURES = (
    Figure(
        "intake",
        "intake",
        "1. Intake: signed signups accepted over HTTP",
        quick={"runs": 1, "signups_per_run": 100, "quick": True},
    ),
    Figure(
        "accept",
        "accept_to_commit",
        "2. Accept to commit, local backend",
        quick={"runs": 1, "burst": 100, "sustained": 40, "naive": 5},
    ),
    Figure(
        "github",
        "github_economy",
        "3. GitHub economy",
        quick={"quick": True},
    ),
    Figure(
        "checker",
        "checker",
        "4. Checker",
        full={"runs": 3, "sizes": (100, 1000, 10_000, FLEET)},
        quick={"runs": 1, "sizes": (10, 20)},
    ),
    Figure(
        "nix",
        "nix_eval",
        "5. Nix evaluation of the pure core",
        quick={"runs": 1, "sizes": (10, 20)},
    ),
    Figure(
        "memory",
        "memory",
        "6. Memory during a burst",
        quick={"sizes": (50,)},
    ),
    Figure(
        "admin",
        "admin_pages",
        "7. Operator view at fleet size",
        quick={"runs": 1, "sizes": (10, 30)},
    ),
    Figure(
        "recovery",
        "recovery",
        "8. Recovery after a lost database",
        full={"sizes": (10_000, FLEET)},
        quick={"sizes": (50, 100)},
    ),
    Figure(
        "snapshot",
        "github_snapshot",
        "9. GitHub snapshot at fleet size",
        full={"runs": 3, "sizes": (10_000, FLEET)},
        quick={"runs": 1, "sizes": (50, 100)},
    ),
    Figure(
        "onehost",
        "nix_eval",
        "10. Nix evaluation of one host in a large fleet",
        full={"runs": 3, "sizes": (10_000, FLEET)},
        quick={"runs": 1, "sizes": (50, 100), "per_host": 20},
        function="measure_one_host",
    ),
    Figure(
        "fleetmemory",
        "memory",
        "11. Writer memory during a burst into a large repo",
        full={"sizes": (10_000, FLEET), "burst": 1000},
        quick={"sizes": (50, 100), "burst": 20},
        function="measure_fleet",
    ),
    Figure(
        "live",
        "signup_to_live",
        "12. Signup to live: the bot's own share",
        quick={"quick": True, "engine_seconds": 0.2},
    ),
    Figure(
        "scrape",
        "scrape",
        "13. /metrics and a tenant's status as history grows",
        quick={"runs": 2, "sizes": (100, 1000)},
    ),
)


def run_figure(figure: Figure, *, quick: bool, scale: int = FLEET) -> Section:
    try:
        module = importlib.import_module(figure.module)
    except ModuleNotFoundError as missing:
        if missing.name != figure.module:
            raise
        return Section(
            title=figure.title,
            method=(
                f"Not measured: `benchmarks/{figure.module}.py` is not in this checkout. "
                "It comes with the GitHub backend (`gitops_bot/backends/github.py`, and the "
                "fake GitHub it is measured against); once that is merged, `make bench` "
                "runs it here."
            ),
        )
    measure: Callable[..., Section] = getattr(module, figure.function)
    return measure(**(figure.quick if quick else scaled(figure.full, scale)))


def scaled(options: dict[str, Any], scale: int) -> dict[str, Any]:
    """`options` with FLEET in its sizes replaced by `scale` (sizes above it dropped)."""
    sizes = options.get("sizes")
    if sizes is None or FLEET not in sizes:
        return options
    fitted = {scale if size == FLEET else size for size in sizes if size == FLEET or size <= scale}
    return {**options, "sizes": tuple(sorted(fitted))}


# The closing note: which surface is slowest at 100,000 tenants, and why. Written from a
# run at that scale (figures 4, 7 and 9); read it again when those figures move.
CLOSING = """## At 100,000 tenants: the slowest surface

**`gitops-bot plan` for one changed tenant** (figure 4) is the slowest surface at 100,000
tenants by far: well over a minute, where `git diff` of the same two commits takes a
fraction of a second and the checker a few seconds. It writes out both revisions (200,000 files) and
evaluates `nix/summary.nix` for the whole fleet at each, every host and every tenant's
fingerprints, although a tenant's units depend on its own file only (the Nix tests hold the
module to that, and the review lane's `plan_change` already evaluates only the tenants a
change touches). Evaluating only the hosts whose tenant files or `nix/` changed, and on
them only the changed tenants, would make it grow with the change instead of the fleet.

Next come recovery after a lost database (figure 8), and the writer's host check (figure 10):

- Recovery grows faster than the fleet on both backends: `sync_repo` deletes each tenant's
  domains by slug from a table whose only index is the domain, so each of the 100,000
  deletes scans it. The `domains (slug)` index that the counters work adds makes it linear
  (in a one-off run, 15 s instead of 57 s for the local backend at 100,000). GitHub's share
  stays small: about ten requests and no governor wait, since a page of the commit list
  covers a hundred bursts.
- The host check before every commit evaluates one host, but the module reads all of
  `tenants/` (`builtins.readDir`, then every file) to keep that host's own, so one host of
  2,000 costs as much as the whole fleet's parse and more. A per-host index of tenant files
  would make it grow with the host.
"""


def render(
    sections: list[Section], facts: dict[str, str], command: str, seconds: float, *, quick: bool
) -> str:
    goals = [
        [section.title.split(" ", 1)[0].rstrip("."), goal.text, goal.verdict]
        for section in sections
        for goal in section.goals
    ]
    header = f"""# Performance

Generated by `make bench` ({command}) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, in
{seconds / 60:.1f} minutes. Do not edit by hand: run `make bench` again.

| machine | |
|:---|:---|
| cores | {facts["cores"]} |
| CPU | {facts["cpu"]} |
| memory | {facts["memory"]} |
| OS | {facts["os"]} |
| Python | {facts["python"]} |
| git | {facts["git"]} |
| nix-instantiate | {facts["nix"]} |
| commit | `{facts["commit"]}` |
| load average before / after | {facts["load"]} / {facts["load_after"]} |

Every figure is the median of several runs, with the spread as (min–max) and the number of
runs in each section; each baseline is measured in the same run, on the same machine. These
machines are shared and their neighbours are noisy, so compare figures within one report
rather than across reports, and read a single slow run in the spread as noise. Nothing here
is asserted in the tests: `tests/system/test_benchmarks_smoke.py` only runs each script at a tiny
size, so that they keep working.

## Goals

{table(["figure", "goal", "verdict"], goals, text=3) if goals else "No goal was measured."}
"""
    if quick:
        header += "\n**A smoke run at tiny sizes (`--quick`): these figures mean nothing.**\n"
    body = "\n".join(section.markdown() for section in sections)
    return header + "\n" + body + ("" if quick else "\n" + CLOSING)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", help="comma-separated figures: " + ",".join(f.key for f in FIGURES)
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument(
        "--scale",
        type=int,
        default=FLEET,
        help=f"largest fleet of the fleet-size figures (default {FLEET:,})",
    )
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else {f.key for f in FIGURES}
    if unknown := wanted - {f.key for f in FIGURES}:
        parser.error(f"unknown figure(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    facts = machine()
    sections = []
    for figure in FIGURES:
        if figure.key not in wanted:
            continue
        print(f"== {figure.title}", file=sys.stderr, flush=True)
        section = run_figure(figure, quick=args.quick, scale=args.scale)
        print(section.markdown(), file=sys.stderr, flush=True)
        sections.append(section)
    facts["load_after"] = machine()["load"]
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    command = shlex.join(["python", str(shown), *sys.argv[1:]])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        render(sections, facts, f"`{command}`", time.monotonic() - started, quick=args.quick)
    )
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
