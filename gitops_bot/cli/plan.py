"""`gitops-bot plan`: what a deploy between two revisions of the state repo would do, per host."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="show the tenants and units a deploy would change, per host",
        description=(
            "Evaluate nix/ at two revisions and list, per host, the tenants added, changed, "
            "suspended and removed, and the units a switch starts, restarts or stops. Without "
            "nix-instantiate it falls back to a file-level diff and says so."
        ),
    )
    parser.add_argument("--base", required=True, help="revision deployed now")
    parser.add_argument("--head", default="HEAD", help="revision to deploy (default: HEAD)")
    parser.add_argument(
        "--fork-point",
        action="store_true",
        help="compare HEAD with where it forked from BASE: a review branch's own change",
    )
    parser.add_argument(
        "--format", choices=("text", "json", "markdown"), default="text", help="output format"
    )
    parser.add_argument("--repo", type=Path, default=Path(), help="state repo (default: .)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitops_bot.nix import plan  # noqa: PLC0415 - keeps other subcommands' start-up light

    try:
        report = plan.build_report(
            repo=args.repo, base=args.base, head=args.head, fork_point=args.fork_point
        )
    except plan.PlanError as error:
        sys.stderr.write(f"gitops-bot plan: {error}\n")
        return 1
    sys.stdout.write(plan.render(report, args.format))
    return 0
