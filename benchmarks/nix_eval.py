"""Benchmark: time to evaluate the pure Nix core (nix/summary.nix) for 100 to 10,000 tenants.

Run: python benchmarks/nix_eval.py [--runs 5] [--sizes 100,1000,10000]
Prints a markdown table: median and spread of `nix-instantiate --eval --strict --json` over
fleets generated in a temp dir, and seconds per 1,000 tenants to show whether growth is linear.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_fleet(root: Path, count: int) -> None:
    """A state-repo tree with `count` tenants over the hosts, every fifth with a domain."""
    shutil.copytree(REPO / "nix", root / "nix")
    tenants = root / "tenants"
    tenants.mkdir()
    hosts = sorted(json.loads((REPO / "nix" / "inventory.json").read_text())["hosts"])
    for i in range(count):
        slug = f"tenant{i:05d}"
        data = {
            "$schema": "./tenant.schema.json",
            "createdAt": "2026-11-02T09:30:00Z",
            "domains": [f"shop{i}.example.org"] if i % 5 == 0 else [],
            "host": hosts[i % len(hosts)],
            "origin": f"msg_bench_{i}",
            "plan": "pro",
            "schemaVersion": 1,
            "slug": slug,
            "state": "suspended" if i % 50 == 0 else "active",
        }
        (tenants / f"{slug}.json").write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")


def summary_units(nix: str, root: Path) -> dict[str, str]:
    """Every unit's fingerprint in the fleet, by unit name."""
    expr = f"import {root}/nix/summary.nix {{ repo = {root}; }}"
    out = subprocess.run(
        [nix, "--eval", "--strict", "--json", "-E", expr], check=True, capture_output=True
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
    newcomer.update(slug="newcomer", domains=["www.newcomer.example"], state="active")
    (root / "tenants" / "newcomer.json").write_text(json.dumps(newcomer))
    after = summary_units(nix, root)
    return sum(1 for unit, digest in before.items() if after.get(unit) != digest)


def time_eval(nix: str, root: Path) -> float:
    expr = f"import {root}/nix/summary.nix {{ repo = {root}; }}"
    started = time.perf_counter()
    subprocess.run(
        [nix, "--eval", "--strict", "--json", "-E", expr],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    nix = shutil.which("nix-instantiate")
    if nix is None:
        print("nix-instantiate is not installed", file=sys.stderr)
        return 1
    print(f"nix-instantiate --eval --strict --json of nix/summary.nix, {args.runs} runs each\n")
    print(
        "| tenants | median (s) | min (s) | max (s) | s per 1,000 tenants "
        "| existing units changed by adding one |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="gitops-bot-bench-") as tmp:
            root = Path(tmp)
            write_fleet(root, size)
            time_eval(nix, root)  # warm the page cache: the figure is evaluation, not disk
            samples = [time_eval(nix, root) for _ in range(args.runs)]
            changed = restarts_when_one_is_added(nix, root)
        median = statistics.median(samples)
        print(
            f"| {size:,} | {median:.3f} | {min(samples):.3f} | {max(samples):.3f} "
            f"| {median / size * 1000:.3f} | {changed} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
