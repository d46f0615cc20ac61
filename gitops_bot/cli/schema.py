"""`gitops-bot schema`: print or write the JSON Schema of a tenant file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gitops_bot.cli.fmt import LinkedFolderError, replace_file
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
        return 0
    folder: Path = args.write / "tenants"
    if not folder.is_dir():
        print(f"gitops-bot schema: {folder} is not a directory", file=sys.stderr)
        return 2
    try:
        # A committed tenants/tenant.schema.json may be a link: replaced, never written through.
        replace_file(folder / SCHEMA_FILE, text)
    except LinkedFolderError as refused:
        print(f"gitops-bot schema: {refused}", file=sys.stderr)
        return 2
    return 0
