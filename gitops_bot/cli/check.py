"""`gitops-bot check [PATH]`: validate the tenant files of a checkout and the rules between them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gitops_bot.contract.checker import Problem, Report, check_files, read_links, read_tree


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check", help="validate tenants/ against the schema and fleet rules"
    )
    parser.add_argument("path", nargs="?", type=Path, default=Path(), help="repo root (default: .)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="github: workflow annotations on the files",
    )
    parser.add_argument(
        "--base",
        metavar="REV",
        help="also refuse changes since REV to fields that never change, and unmarked host moves",
    )
    parser.set_defaults(func=run)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        problems = [
            {"file": p.file, "line": p.line, "field": p.field, "message": p.message}
            for p in report.problems
        ]
        return json.dumps(
            {"ok": report.ok, "tenants": len(report.tenants), "problems": problems}, indent=2
        )
    if fmt == "github":
        return "\n".join(_annotation(problem) for problem in report.problems)
    lines = [str(problem) for problem in report.problems]
    verdict = "ok" if report.ok else f"{len(report.problems)} problem(s)"
    lines.append(f"{len(report.tenants)} tenant file(s) checked: {verdict}")
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    # A workflow command ends at a newline, and '%' starts an escape (GitHub's toolkit).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # In a property a ',' starts the next one and a ':' can end the list: a file named
    # "x,line=999,title=All good::ok.json" must not write its own annotation.
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(problem: Problem) -> str:
    title = problem.field or "tenant file"
    location = (
        f"file={_escape_property(problem.file)},line={max(problem.line, 1)},"
        f"title={_escape_property(title)}"
    )
    return f"::error {location}::{_escape_data(problem.message)}"


def run(args: argparse.Namespace) -> int:
    root: Path = args.path
    if not (root / "tenants").is_dir():
        print(f"gitops-bot check: {root / 'tenants'} is not a directory", file=sys.stderr)
        return 2
    files = read_tree(root)
    report = check_files(files, links=read_links(root))
    if args.base is not None:
        from gitops_bot.backends.gitrepo import GitError  # noqa: PLC0415
        from gitops_bot.writer.basecheck import check_against  # noqa: PLC0415

        try:
            report = check_against(root, args.base, report, files)
        except GitError as problem:
            print(f"gitops-bot check: --base {args.base}: {problem}", file=sys.stderr)
            return 2
    if output := render(report, args.format):
        print(output)
    return 0 if report.ok else 1
