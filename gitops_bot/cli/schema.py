"""`gitops-bot schema`: print or write the JSON Schema of a tenant file."""

from __future__ import annotations

import argparse
from pathlib import Path

from gitops_bot.contract.tenant import SCHEMA_FILE, canonical_json, json_schema


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("schema", help="print the tenant file's JSON Schema")
    parser.add_argument(
        "--write",
        type=Path,
        metavar="REPO",
        help=f"write it to REPO/tenants/{SCHEMA_FILE} instead of printing it",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = canonical_json(json_schema())
    if args.write is None:
        print(text, end="")
    else:
        (args.write / "tenants" / SCHEMA_FILE).write_text(text, encoding="utf-8")
    return 0
