"""`gitops-bot approve SLUG`: the local stand-in for a reviewer merging a tenant's review."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "approve", help="merge the review branch tenant/SLUG (local backend)"
    )
    parser.add_argument("slug", help="the tenant whose review to merge")
    parser.add_argument("--reason", default=None, help="who approved, and why (commit message)")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the merge")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import hashlib  # noqa: PLC0415
    import secrets  # noqa: PLC0415

    from gitops_bot.cli.operator import wait_for  # noqa: PLC0415
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.store.queue import Answer, Store  # noqa: PLC0415

    if args.reason is not None and (problem := _reason_problem(args.reason)) is not None:
        print(f"gitops-bot approve: --reason {problem}", file=sys.stderr)
        return 2
    settings = Settings()
    if settings.backend != "local":
        print("gitops-bot approve: review and merge the pull request on GitHub", file=sys.stderr)
        return 2
    event_id = f"cli_{secrets.token_hex(12)}"
    with Store(settings.database_path, synchronous=settings.synchronous) as store:
        store.migrate()
        with store.transaction():
            if store.last_status(args.slug) != "pr_open":
                print(f"gitops-bot approve: '{args.slug}' has no open review", file=sys.stderr)
                return 1
            # The merge goes through the queue, so that the one writer makes it.
            store.record_event(
                event_id=event_id,
                event_type="review.approve",
                body_sha256=hashlib.sha256(args.slug.encode()).hexdigest(),
                answer=Answer(202, {"slug": args.slug, "status": "accepted"}),
                status="pending",
                slug=args.slug,
                op="merge",
                reason_given=args.reason,
            )
    print(f"queued the merge of tenant/{args.slug}")
    return wait_for(settings, event_id, args.wait)


def _reason_problem(reason: str) -> str | None:
    """Why `reason` cannot be the merge's `Approved:` trailer, or None: the rules of a reason."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415

    from gitops_bot.intake.events import Reason  # noqa: PLC0415

    try:
        TypeAdapter(Reason).validate_python(reason)
    except ValidationError as invalid:
        return invalid.errors(include_url=False, include_input=False)[0]["msg"]
    return None
