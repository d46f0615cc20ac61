"""The `gitops-bot` command line: one module per subcommand, wired together here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from pydantic import ValidationError

from gitops_bot import logs
from gitops_bot.backends.base import BackendError
from gitops_bot.config import ConfigError

# Each module defines add_parser(subparsers); the parser it adds sets `func` to its runner.
# Runners import their heavy dependencies themselves, so `check` does not pay for Flask.
SUBCOMMANDS = (
    "serve",
    "worker",
    "check",
    "fmt",
    "pin_uids",
    "schema",
    "send_signup",
    "tenants",
    "approve",
    "history",
    "plan",
    "deploy",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-bot",
        description="Signed signups in, reviewed tenant files out, NixOS hosts deployed.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        import_module(f"gitops_bot.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except (ConfigError, ValidationError) as problem:
        # A bad setting deserves a sentence, not a traceback.
        print(f"gitops-bot {args.command}: configuration error: {problem}", file=sys.stderr)
        return 2
    except BackendError as problem:
        # The state repo is unreachable or refused: every command says so the same way.
        print(f"gitops-bot {args.command}: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
