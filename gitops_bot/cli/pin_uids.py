"""`gitops-bot pin-uids [PATH]`: give every tenant file that has none its uid, once."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gitops_bot.cli.fmt import replace_file
from gitops_bot.contract.checker import TENANTS_DIR, is_tenant_path
from gitops_bot.contract.tenant import UID_RANGE, canonical_json


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "pin-uids",
        help="pin a uid in every tenant file that has none (the one-time naming migration)",
        description=(
            "Tenant files written before uids were pinned have none, and the checker and the "
            "NixOS module refuse them. This gives each such file the next free uid of the "
            "tenant range, oldest tenant first, above every uid already in the folder. "
            "Commit the result as one reviewed change; docs/nixos.md describes the migration."
        ),
    )
    parser.add_argument("path", nargs="?", type=Path, default=Path(), help="repo root (default: .)")
    parser.add_argument("--check", action="store_true", help="only list files that lack a uid")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    documents: dict[Path, dict[str, Any]] = {}
    for file in sorted((args.path / TENANTS_DIR).glob("*.json")):
        if not is_tenant_path(f"{TENANTS_DIR}/{file.name}") or file.is_symlink():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            print(f"{file}: not JSON ({error}); see `gitops-bot check`", file=sys.stderr)
            return 1
        if isinstance(data, dict):
            documents[file] = data
    used = [d["uid"] for d in documents.values() if isinstance(d.get("uid"), int)]
    missing = sorted(
        (file for file, d in documents.items() if "uid" not in d),
        key=lambda f: (str(documents[f].get("createdAt", "")), f.name),
    )
    next_uid = max([UID_RANGE.start - 1, *used]) + 1
    for file in missing:
        print(file)
        if args.check:
            continue
        if next_uid not in UID_RANGE:
            print(f"{file}: no uid left in the tenant range", file=sys.stderr)
            return 1
        replace_file(file, canonical_json({**documents[file], "uid": next_uid}))
        next_uid += 1
    return 1 if args.check and missing else 0
