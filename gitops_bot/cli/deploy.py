"""`gitops-bot deploy`: deploy the hosts whose inputs changed since their own last deploy."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gitops_bot.deploy.engine import DEPLOYMENT_NAME, ENGINES


def _deployment_name(value: str) -> str:
    if not DEPLOYMENT_NAME.match(value):
        raise argparse.ArgumentTypeError(f"not a NixOps deployment name: {value!r}")
    return value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="deploy the hosts whose tenants, settings or nix/ changed since their last deploy",
        description=(
            "Compare each inventory host's deployed/<host> tag with the revision to deploy, run "
            "the engine on the hosts whose tenant files, inventory entry or shared nix/ changed, "
            "and move their tags only when the engine succeeded. With GITHUB_TOKEN and "
            "GITHUB_REPOSITORY set (as in GitHub Actions) it also creates a GitHub Deployment."
        ),
    )
    parser.add_argument(
        "--repo", type=Path, default=Path(), help="state repo checkout (default: .)"
    )
    parser.add_argument("--rev", default="HEAD", help="revision to deploy (default: HEAD)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="nixops",
        help="nixops or colmena push from here; comin pulls on each host, so this only "
        "explains what will happen and moves no marker (default: nixops)",
    )
    parser.add_argument(
        "--branch", default="main", help="the branch comin hosts pull (default: main)"
    )
    parser.add_argument(
        "--nixops-deployment",
        type=_deployment_name,
        default="fleet",
        help="NixOps deployment name for `nixops deploy -d` (default: fleet)",
    )
    parser.add_argument(
        "--push-markers",
        action="store_true",
        help="read the deployed/<host> tags from --remote first, and push them there after",
    )
    parser.add_argument("--remote", default="origin", help="git remote (default: origin)")
    parser.add_argument("--environment", default="production", help="GitHub Deployment environment")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the hosts and the exact engine command; deploy and record nothing",
    )
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    sys.stderr.write(f"gitops-bot deploy: {message}\n")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # An annotation puts the failure on the run's summary page, not only deep in the log.
        escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::error title=deploy failed::{escaped}")
    return 1


def run(args: argparse.Namespace) -> int:
    from gitops_bot.backends import gitrepo  # noqa: PLC0415
    from gitops_bot.deploy import deploy, engine, markers  # noqa: PLC0415
    from gitops_bot.github import deployments  # noqa: PLC0415

    try:
        repo: Path = args.repo
        head = _resolve(repo, args.rev)
        token = os.environ.get("GITHUB_TOKEN") or None
        remote = args.remote if args.push_markers else None
        if remote is not None:
            markers.fetch(repo, remote, token=token)
        deployed = markers.read(repo)
        selection = deploy.select(repo, head=head, deployed=deployed)
    except (gitrepo.GitError, deploy.DeployError) as error:
        return _fail(str(error))
    if args.engine in engine.PULL_ENGINES:
        print(deploy.describe(selection, engine_name=args.engine, argv=()))
        print(engine.pull_explanation(args.engine, selection.hosts, head=head, branch=args.branch))
        return 0
    selection = selection.for_push()
    argv = (
        engine.command(args.engine, selection.hosts, nixops_deployment=args.nixops_deployment)
        if selection.hosts
        else ()
    )
    print(deploy.describe(selection, engine_name=args.engine, argv=argv))
    if not argv:
        return 0
    if args.dry_run:
        print("dry run: nothing deployed, no marker moved, no GitHub Deployment created")
        return 0
    api, note = deployments.api_from_environ(os.environ)
    print(note, flush=True)  # before the engine's own output
    reporter = deployments.Reporter(
        api, environment=args.environment, log_url=deployments.log_url(os.environ)
    )
    try:
        problems = deploy.apply(
            repo,
            selection,
            argv=argv,
            cwd=repo,
            deployed=deployed,
            remote=remote,
            token=token,
            reporter=reporter,
        )
    except deploy.DeployError as error:
        problems = [str(error)]
    for problem in problems:
        _fail(problem)
    if not problems:
        print(f"deployed {', '.join(selection.hosts)}; markers at {head[:12]}")
    return 1 if problems else 0


def _resolve(repo: Path, rev: str) -> str:
    from gitops_bot.backends import gitrepo  # noqa: PLC0415
    from gitops_bot.deploy import deploy  # noqa: PLC0415

    try:
        return gitrepo.resolve(repo, rev)
    except gitrepo.GitError as error:
        raise deploy.DeployError(f"not a revision of {repo}: {rev!r} ({error})") from error
