"""`gitops-bot history SLUG`: every change to a tenant, from git history and the bot's records."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("history", help="a tenant's audit trail")
    parser.add_argument("slug", help="the tenant")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--repo",
        type=Path,
        help="a clone of the state repo (default: the writer's own clone under the state dir)",
    )
    parser.add_argument("--ref", help="branch or ref to read (default: the state branch)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gitops_bot.backends.gitrepo import GitError  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.operator.history import as_json, tenant_history, with_reports  # noqa: PLC0415
    from gitops_bot.store.queue import Store  # noqa: PLC0415

    settings = Settings()
    repo = args.repo or settings.writer_clone
    ref = args.ref or (f"origin/{settings.branch}" if args.repo is None else settings.branch)
    try:
        changes = tenant_history(repo, ref, args.slug)
    except GitError as problem:
        print(f"gitops-bot history: {problem}", file=sys.stderr)
        return 2
    if settings.database_path.exists():
        with Store(settings.database_path) as store:
            changes = with_reports(changes, store, args.slug)
    if not changes:
        print(f"gitops-bot history: no commit touched tenants/{args.slug}.json", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(as_json(changes), indent=2))
        return 0
    for change in changes:
        print(f"{change.at}  {change.commit[:12]}  {change.subject}")
        for event in change.events:
            print(f"    event     {event}")
        if change.approved:
            print(f"    approved  {change.approved}")
        for report in change.reports:
            extras = " ".join(str(report[k]) for k in ("url", "reason") if k in report)
            print(f"    {report['status']:<9} {report['at']} {extras}".rstrip())
    return 0
