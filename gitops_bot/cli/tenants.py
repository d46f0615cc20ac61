"""`gitops-bot tenants list|show`: the fleet as the bot sees it, for operators."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from datetime import UTC, datetime


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tenants", help="list tenants or show one")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every tenant, queued ones included")
    listing.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    listing.set_defaults(func=run_list)
    show = actions.add_parser("show", help="one tenant's file and status history")
    show.add_argument("slug", help="the tenant")
    show.set_defaults(func=run_show)
    for action, summary in (
        ("suspend", "stop the tenant's service; its route answers 503; data is kept"),
        ("resume", "run a suspended tenant again"),
        ("delete", "remove the tenant file (always through review); hosts keep the data"),
        ("update", "change the plan, the custom domains or the app release"),
    ):
        change = actions.add_parser(action, help=summary)
        change.add_argument("slug", help="the tenant")
        change.add_argument("--reason", required=True, help="recorded in the commit message")
        change.add_argument(
            "--wait", type=float, default=30.0, help="seconds to wait for the commit"
        )
        if action == "update":
            change.add_argument("--plan", help="the new plan")
            change.add_argument("--release", help="the app release, one the inventory lists")
            change.add_argument("--domain", action="append", dest="domains", help="repeatable")
            change.add_argument(
                "--no-domains", action="store_true", help="remove all custom domains"
            )
        change.set_defaults(func=run_change, event_type=f"tenant.{action}")


def _rows() -> list[dict[str, object]]:
    from gitops_bot.config import Settings  # noqa: PLC0415

    settings = Settings()
    if not settings.database_path.exists():
        return []
    with sqlite3.connect(f"file:{settings.database_path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "SELECT t.slug, t.host, t.plan, t.in_repo,"
            " (SELECT status FROM transitions WHERE slug = t.slug ORDER BY id DESC LIMIT 1)"
            " AS status,"
            " (SELECT at FROM transitions WHERE slug = t.slug ORDER BY id LIMIT 1) AS since"
            " FROM tenants t ORDER BY t.slug"
        )
        return [dict(row) for row in rows]


def run_list(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'SLUG':<40} {'PLAN':<12} {'HOST':<12} {'STATUS':<12} SINCE")
    for row in rows:
        status = row["status"] or ("on branch" if row["in_repo"] else "queued")
        since = row["since"]
        when = (
            datetime.fromtimestamp(float(since), UTC).strftime("%Y-%m-%d %H:%M")
            if isinstance(since, float | int)
            else "-"
        )
        print(f"{row['slug']!s:<40} {row['plan']!s:<12} {row['host']!s:<12} {status!s:<12} {when}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from gitops_bot.backends.factory import open_state_repo  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.contract.tenant import tenant_path  # noqa: PLC0415
    from gitops_bot.store.queue import Store  # noqa: PLC0415

    settings = Settings()
    repo = open_state_repo(settings)
    try:
        snapshot = repo.snapshot(settings.branch)
        blob = None if snapshot is None else snapshot.files.get(tenant_path(args.slug))
        content = None if blob is None else repo.read_blobs([blob])[blob]
    finally:
        repo.close()
    with Store(settings.database_path) as store:
        store.migrate()
        transitions = store.transitions(args.slug)
    if content is None and not transitions:
        print(f"gitops-bot tenants show: no tenant '{args.slug}'", file=sys.stderr)
        return 1
    if content is not None:
        print(content.decode(), end="")
    for step in transitions:
        when = datetime.fromtimestamp(step["at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        extra = " ".join(f"{k}={v}" for k, v in step.items() if k not in {"status", "at"})
        print(f"{when}  {step['status']:<10} {extra}")
    return 0


def run_change(args: argparse.Namespace) -> int:
    """Queue an operator's change through the same intake, checker and policy as a webhook's."""
    from gitops_bot.cli.operator import queue_event, wait_for  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415

    data: dict[str, object] = {"slug": args.slug, "reason": args.reason}
    if args.event_type == "tenant.update":
        if args.plan is not None:
            data["plan"] = args.plan
        if args.release is not None:
            data["release"] = args.release
        if args.domains is not None or args.no_domains:
            data["domains"] = args.domains or []
    settings = Settings()
    event_id, status = queue_event(settings, args.event_type, data)
    if status != 202:  # noqa: PLR2004
        return 1
    return wait_for(settings, event_id, args.wait)
