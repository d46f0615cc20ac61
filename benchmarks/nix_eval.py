"""Benchmark 5: time to evaluate the pure Nix core (nix/summary.nix) for 100 to 10,000 tenants.

Run: python benchmarks/nix_eval.py [--runs 5] [--sizes 100,1000,10000]
     python benchmarks/nix_eval.py --one-host [--per-host 2000] --sizes 10000,100000
Prints a markdown table: median and spread of `nix-instantiate --eval --strict --json` over
fleets generated in a temp dir, seconds per 1,000 tenants to show whether growth is linear,
and how many existing units change when one tenant is added (the module's promise: none).
Baseline: the same nix-instantiate reading and parsing every tenant file (builtins.fromJSON)
and nothing else.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import (
    REPO,
    Goal,
    Section,
    Stat,
    canonical,
    hosts,
    linear_growth,
    ratio,
    scratch,
    stat,
    table,
    tenant_document,
    write_fleet,
)

GOAL_SECONDS = 5.0


def summary_expr(root: Path) -> str:
    return f"import {root}/nix/summary.nix {{ repo = {root}; }}"


def host_check_expr(root: Path, host: str) -> str:
    """What the writer evaluates before a commit: one host's verdict, no fingerprints."""
    return (
        f"import {root}/nix/summary.nix {{ repo = {root}; "
        f'hosts = [ "{host}" ]; problemsOnly = true; }}'
    )


def parse_expr(root: Path) -> str:
    """Read and parse every tenant file, as the module must at least do."""
    return (
        f"let dir = {root}/tenants; in builtins.mapAttrs"
        ' (name: _: builtins.fromJSON (builtins.readFile (dir + "/${name}")))'
        " (builtins.readDir dir)"
    )


def summary_units(nix: str, root: Path) -> dict[str, str]:
    """Every unit's fingerprint in the fleet, by unit name."""
    out = subprocess.run(
        [nix, "--eval", "--strict", "--json", "-E", summary_expr(root)],
        check=True,
        capture_output=True,
    ).stdout
    hosts = json.loads(out)["hosts"].values()
    return {
        unit: digest
        for tenants in hosts
        for t in tenants.values()
        for unit, digest in t["units"].items()
    }


def restarts_when_one_is_added(nix: str, root: Path) -> int:
    """Existing units whose fingerprint changes when one tenant (with a domain) is added."""
    before = summary_units(nix, root)
    newcomer = json.loads((root / "tenants" / "tenant00001.json").read_text())
    newcomer.update(
        slug="newcomer", domains=["www.newcomer.example"], state="active", uid=0x70FFFFFF
    )
    (root / "tenants" / "newcomer.json").write_text(json.dumps(newcomer))
    after = summary_units(nix, root)
    (root / "tenants" / "newcomer.json").unlink()
    return sum(1 for unit, digest in before.items() if after.get(unit) != digest)


def time_eval(nix: str, expr: str, runs: int) -> Stat:
    command = [nix, "--eval", "--strict", "--json", "-E", expr]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return stat(samples)


def measure(*, runs: int = 5, sizes: tuple[int, ...] = (100, 1000, 10_000)) -> Section:
    started = time.monotonic()
    section = Section(
        title="5. Nix evaluation of the pure core",
        method=(
            "`nix-instantiate --eval --strict --json` of `nix/summary.nix` (every host's "
            "tenants with a fingerprint per unit, virtual host and certificate) over fleets "
            f"generated in a temp dir, {runs} runs per size after one warm-up. Baseline: the "
            "same command reading every tenant file with `builtins.fromJSON`, nothing else. "
            "Host check: what the writer evaluates before a commit, the names one host's "
            "tenants would share (`problemsOnly`), for the first of the inventory's hosts."
        ),
    )
    nix = shutil.which("nix-instantiate")
    if nix is None:
        section.notes.append("Not measured: nix-instantiate is not installed.")
        return section
    rows, per_thousand, largest = [], {}, None
    for size in sizes:
        with scratch("nix") as root:
            write_fleet(root, size, capacity=size)
            summary = time_eval(nix, summary_expr(root), runs)
            check = time_eval(nix, host_check_expr(root, hosts()[0]), runs)
            parse = time_eval(nix, parse_expr(root), runs)
            changed = restarts_when_one_is_added(nix, root)
        per_thousand[size] = summary.median / size * 1000
        largest = summary
        rows.append(
            [
                f"{size:,}",
                summary.show(3),
                f"{per_thousand[size]:.3f}",
                parse.show(3),
                ratio(summary.median, parse.median),
                check.show(3),
                ratio(check.median, parse.median),
                changed,
            ]
        )
    section.tables.append(
        table(
            [
                "tenants",
                "summary.nix (s)",
                "s per 1,000 tenants",
                "baseline: parse only (s)",
                "ratio to baseline",
                "host check, one host (s)",
                "its ratio to baseline",
                "existing units changed by adding one",
            ],
            rows,
        )
    )
    biggest = max(sizes)
    if largest is not None and biggest >= 10_000:
        section.goals.append(
            Goal(
                f"{biggest:,} tenants in under {GOAL_SECONDS:.0f} s",
                largest.median < GOAL_SECONDS,
                f"{largest.median:.2f} s",
            )
        )
    if len(sizes) > 1:
        section.goals.append(linear_growth(per_thousand))
    section.seconds = time.monotonic() - started
    return section


# How many tenants one host holds in the fleet-size figure: a full host of a large fleet.
PER_HOST = 2000


def write_spread_fleet(root: Path, size: int, per_host: int = PER_HOST) -> list[str]:
    """A fleet of `size` tenants on `size / per_host` hosts, `per_host` each; the hosts."""
    shutil.copytree(REPO / "nix", root / "nix", ignore=shutil.ignore_patterns("tests"))
    path = root / "nix" / "inventory.json"
    inventory = json.loads(path.read_text())
    names = [f"web-{n:03d}" for n in range(-(-size // per_host))]
    inventory["hosts"] = {
        name: {"address": f"{name}.fleet.example.net", "capacity": per_host} for name in names
    }
    path.write_text(json.dumps(inventory, indent=2) + "\n")
    tenants = root / "tenants"
    tenants.mkdir()
    shutil.copy(REPO / "tenants" / "tenant.schema.json", tenants)
    for i in range(size):
        document = tenant_document(i, names)
        document["host"] = names[i // per_host]
        (tenants / f"{document['slug']}.json").write_text(canonical(document))
    return names


def host_expr(root: Path, host: str) -> str:
    """One host's tenants with their fingerprints: what a deploy of that host evaluates."""
    return f'import {root}/nix/summary.nix {{ repo = {root}; hosts = [ "{host}" ]; }}'


def measure_one_host(
    *, runs: int = 3, sizes: tuple[int, ...] = (10_000, 100_000), per_host: int = PER_HOST
) -> Section:
    """The fleet-size figure: one host of `per_host` tenants, in fleets of `sizes`."""
    started = time.monotonic()
    section = Section(
        title="10. Nix evaluation of one host in a large fleet",
        method=(
            f"Fleets of N tenants spread {per_host:,} to a host (50 hosts at 100,000), "
            f"written in a temp dir; {runs} runs per size after one warm-up. One host: "
            "`nix/summary.nix` with `hosts = [ first ]` (that host's tenants, every unit's "
            "fingerprint), and the writer's host check of it (`problemsOnly`). Baseline: the "
            f"same host alone, a fleet of just its {per_host:,} tenants, so the ratio is what "
            "the rest of the fleet costs that host's evaluation."
        ),
    )
    nix = shutil.which("nix-instantiate")
    if nix is None:
        section.notes.append("Not measured: nix-instantiate is not installed.")
        return section
    with scratch("nix-host") as root:
        first = write_spread_fleet(root, per_host, per_host)[0]
        alone = time_eval(nix, host_expr(root, first), runs)
    rows, per_thousand = [], {}
    for size in sizes:
        with scratch("nix-host") as root:
            first = write_spread_fleet(root, size, per_host)[0]
            host = time_eval(nix, host_expr(root, first), runs)
            check = time_eval(nix, host_check_expr(root, first), runs)
            parse = time_eval(nix, parse_expr(root), runs)
        per_thousand[size] = host.median / size * 1000
        rows.append(
            [
                f"{size:,}",
                host.show(3),
                check.show(3),
                parse.show(3),
                alone.show(3),
                ratio(host.median, alone.median),
            ]
        )
    section.tables.append(
        table(
            [
                "tenants in the fleet",
                f"one host of {per_host:,} (s)",
                "its host check (s)",
                "parse the whole fleet (s)",
                "baseline: the host alone (s)",
                "ratio to baseline",
            ],
            rows,
        )
    )
    if len(sizes) > 1:
        section.goals.append(linear_growth(per_thousand, what="time per tenant in the fleet"))
    section.notes.append(
        "The module reads `tenants/` whole (`builtins.readDir`, then every file) and keeps a "
        "host's own: one host's evaluation grows with the fleet, not with the host."
    )
    section.seconds = time.monotonic() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument(
        "--one-host",
        action="store_true",
        help=f"the fleet-size figure instead: one host of {PER_HOST:,} in fleets of --sizes",
    )
    parser.add_argument("--per-host", type=int, default=PER_HOST)
    args = parser.parse_args()
    if shutil.which("nix-instantiate") is None:
        print("nix-instantiate is not installed", file=sys.stderr)
        return 1
    sizes = tuple(int(size) for size in args.sizes.split(","))
    if args.one_host:
        print(measure_one_host(runs=args.runs, sizes=sizes, per_host=args.per_host).markdown())
    else:
        print(measure(runs=args.runs, sizes=sizes).markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
