"""The `gitops-bot` command line: one module per subcommand, wired together here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module, metadata
from typing import Any

import shtab
from pydantic import ValidationError

from gitops_bot import logs
from gitops_bot.backends.base import BackendError
from gitops_bot.config import ConfigError, environment_variables, explain
from gitops_bot.store.migrations import SchemaTooNew

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
    "rollout",
)


EXIT_CODES = (
    (0, "success"),
    (1, "the command ran and failed: problems found, a refusal, the state repo unreachable"),
    (2, "usage or configuration error: a bad option, setting, secret or queue file"),
    (130, "interrupted (Ctrl-C)"),
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default after its help, except where there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # A flag's default is that it is off (or on, for --no-...): saying so adds nothing.
        flag = isinstance(action.const, bool) and action.nargs == 0
        if flag or action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _TopFormatter(_Formatter, argparse.RawDescriptionHelpFormatter):
    """The epilog's tables keep their lines."""


def _epilog() -> str:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES)
    width = max(len(name) for name, _ in environment_variables())
    variables = "\n".join(
        f"  {name:<{width}}  {about}".rstrip() for name, about in environment_variables()
    )
    return (
        f"exit codes:\n{codes}\n\n"
        "environment (settings; every secret X also as X_FILE or the systemd credential):\n"
        f"{variables}"
    )


def _describe(parser: argparse.ArgumentParser) -> None:
    """A subcommand's one-line help is also its description, unless it has a longer one."""
    for action in parser._actions:  # noqa: SLF001 - argparse keeps subcommands nowhere else
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {choice.dest: choice.help for choice in action._choices_actions}  # noqa: SLF001
            for name, sub in action.choices.items():
                summary = helps.get(name)
                if sub.description is None and summary:
                    sub.description = f"{summary[0].upper()}{summary[1:]}."
                _describe(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gitops-bot",
        description="Signed signups in, reviewed tenant files out, NixOS hosts deployed.",
        epilog=_epilog(),
        formatter_class=_TopFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {metadata.version('gitops-bot')}"
    )
    # `gitops-bot --print-completion bash` (or zsh, tcsh): generated from this very parser,
    # so completion never lags behind a new option.
    shtab.add_argument_to(parser, ["--print-completion"])
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name in SUBCOMMANDS:
        import_module(f"gitops_bot.cli.{name}").add_parser(subparsers)
    _describe(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except ValidationError as problem:
        # A bad setting deserves a sentence naming the variable, not a traceback.
        what = explain(problem) if problem.title == "Settings" else str(problem)
        print(f"gitops-bot {args.command}: configuration error: {what}", file=sys.stderr)
        return 2
    except ConfigError as problem:
        print(f"gitops-bot {args.command}: configuration error: {problem}", file=sys.stderr)
        return 2
    except SchemaTooNew as problem:
        print(f"gitops-bot {args.command}: {problem}", file=sys.stderr)
        return 2
    except BackendError as problem:
        # The state repo is unreachable or refused: every command says so the same way.
        print(f"gitops-bot {args.command}: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
