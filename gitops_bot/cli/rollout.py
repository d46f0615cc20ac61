"""`gitops-bot rollout start|status|pause|resume|abort`: an app release, wave by wave."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from gitops_bot.contract.inventory import INVENTORY_PATH, Inventory

if TYPE_CHECKING:
    from gitops_bot.config import Settings
    from gitops_bot.deploy.rollout_plan import WaveTarget
    from gitops_bot.store.queue import Store

_WAVES = "1,10%,50%,100%"


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "rollout",
        help="move tenants to an app release in waves, stopping at the first failure",
        description=(
            "Each wave is a batch of tenant.update events through the queue, the policy and "
            "the checker; the next starts once every tenant of the last one is live on the "
            "release (by the liveness probe) and the soak time has passed. `gitops-bot "
            "worker` drives it; this command plans, starts, shows and steers it."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="plan the waves and start the rollout")
    start.add_argument("--release", required=True, help="the release to move tenants to")
    start.add_argument(
        "--waves",
        default=_WAVES,
        help="cumulative wave sizes: counts (5) or percentages (10%%) of the selected tenants",
    )
    start.add_argument("--soak", default="10m", help="wait after each wave is live (30s, 10m, 1h)")
    start.add_argument("--hosts", type=_names, help="only these hosts (comma-separated)")
    start.add_argument("--plans", type=_names, help="only these plans (comma-separated)")
    start.add_argument("--tenants", type=_names, help="only these tenants (comma-separated)")
    start.add_argument("--reason", default="release rollout", help="recorded in each commit")
    start.add_argument("--dry-run", action="store_true", help="print the plan and start nothing")
    start.set_defaults(func=run_start)
    status = actions.add_parser("status", help="the open rollout, else the last one")
    status.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    status.set_defaults(func=run_status)
    for action, summary in (
        ("pause", "queue no further wave until resumed"),
        ("resume", "go on after a pause, or re-check a halted wave"),
        ("abort", "stop, and queue the current wave back to each tenant's previous release"),
    ):
        steer = actions.add_parser(action, help=summary)
        steer.set_defaults(func=run_control, control=action)


def _store(settings: Settings) -> Store:
    from gitops_bot.store.queue import Store  # noqa: PLC0415

    store = Store(settings.database_path, synchronous=settings.synchronous)
    store.migrate()
    return store


def branch_files(settings: Settings) -> dict[str, bytes]:
    from gitops_bot.backends.factory import open_state_repo  # noqa: PLC0415

    repo = open_state_repo(settings)
    try:
        snapshot = repo.snapshot(settings.branch)
        if snapshot is None:
            return {}
        wanted = {
            p: b
            for p, b in snapshot.files.items()
            if p.startswith("tenants/") or p == INVENTORY_PATH
        }
        blobs = repo.read_blobs(set(wanted.values()))
        return {path: blobs[blob] for path, blob in wanted.items()}
    finally:
        repo.close()


def _release_problem(files: dict[str, bytes], release: str) -> str | None:
    # Refused before any wave: the checker would refuse every tenant's commit anyway.
    if INVENTORY_PATH not in files:
        return None
    return Inventory.model_validate_json(files[INVENTORY_PATH]).release_problem(release)


def _parse_start(args: argparse.Namespace) -> tuple[list[WaveTarget], float] | None:
    """The waves and soak of `start`, or None once a bad option has been named."""
    from pydantic import TypeAdapter, ValidationError  # noqa: PLC0415

    from gitops_bot.contract.tenant import ReleaseName  # noqa: PLC0415
    from gitops_bot.deploy import rollout_plan  # noqa: PLC0415

    try:
        TypeAdapter(ReleaseName).validate_python(args.release)
        return rollout_plan.parse_waves(args.waves), rollout_plan.parse_duration(args.soak)
    except ValidationError:
        print(
            f"gitops-bot rollout: --release: '{args.release}' is no release name", file=sys.stderr
        )
    except rollout_plan.PlanError as problem:
        print(f"gitops-bot rollout: {problem}", file=sys.stderr)
    return None


def run_start(args: argparse.Namespace) -> int:
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.deploy import rollout_plan  # noqa: PLC0415
    from gitops_bot.store import rollouts  # noqa: PLC0415

    if (parsed := _parse_start(args)) is None:
        return 2
    targets, soak = parsed
    settings = Settings()
    files = branch_files(settings)
    if problem := _release_problem(files, args.release):
        print(f"gitops-bot rollout: --release: {problem}", file=sys.stderr)
        return 1
    selected = rollout_plan.select(
        rollout_plan.fleet(files),
        release=args.release,
        hosts=args.hosts or [],
        plans=args.plans or [],
        slugs=args.tenants or [],
    )
    waves = rollout_plan.waves_of(selected, targets)
    if not waves:
        print(f"gitops-bot rollout: no active tenant to move to {args.release}", file=sys.stderr)
        return 1
    for number, wave in enumerate(waves, start=1):
        print(f"wave {number}: {len(wave)} tenant(s)")
        for host, units in rollouts.restarts(wave).items():
            print(f"  {host}: restarts {', '.join(units)}")
    if args.dry_run:
        return 0
    filters = {
        name: value
        for name, value in (("hosts", args.hosts), ("plans", args.plans), ("tenants", args.tenants))
        if value
    }
    with _store(settings) as store, store.transaction() as db:
        try:
            rollout_id = rollouts.create(
                db,
                release=args.release,
                waves=args.waves,
                soak=soak,
                filters=filters,
                reason=args.reason,
                plan=waves,
                now=time.time(),
            )
        except rollouts.RolloutOpen as refused:
            print(f"gitops-bot rollout: {refused}", file=sys.stderr)
            return 1
    print(f"rollout {rollout_id} of {args.release} started: `gitops-bot worker` drives it")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.store import rollouts  # noqa: PLC0415

    with _store(Settings()) as store:
        status = rollouts.summary(store.connection)
    if status is None:
        print("no rollout yet", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    started = datetime.fromtimestamp(status["startedAt"], UTC).strftime("%Y-%m-%d %H:%M")
    print(f"rollout {status['id']} of {status['release']}: {status['state']} (since {started})")
    if status["haltReason"]:
        print(f"halted: {status['haltReason']}")
    for wave in status["waves"]:
        print(
            f"  wave {wave['number']}: {wave['state']:<8} {wave['live']}/{wave['size']} live,"
            f" {wave['failed']} failed"
        )
        for slug, tenant in wave["tenants"].items():
            if tenant["state"] == "failed":
                print(f"    {slug}: {tenant['reason']}")
    return 0


def run_control(args: argparse.Namespace) -> int:
    from gitops_bot.config import Settings  # noqa: PLC0415
    from gitops_bot.deploy.rollout_steer import control  # noqa: PLC0415

    with _store(Settings()) as store:
        done, message = control(store, args.control)
    print(message, file=sys.stdout if done else sys.stderr)
    return 0 if done else 1
