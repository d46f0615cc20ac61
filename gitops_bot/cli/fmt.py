"""`gitops-bot fmt [PATH]`: rewrite tenant files in canonical form."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

from gitops_bot.contract.checker import TENANTS_DIR, is_tenant_path
from gitops_bot.contract.tenant import Tenant


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("fmt", help="rewrite tenant files in canonical form")
    parser.add_argument("path", nargs="?", type=Path, default=Path(), help="repo root (default: .)")
    parser.add_argument("--check", action="store_true", help="only list files that would change")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.path / TENANTS_DIR).is_symlink():
        print(f"gitops-bot fmt: {args.path / TENANTS_DIR} is a symlink", file=sys.stderr)
        return 2
    changed = failed = 0
    for file in sorted((args.path / TENANTS_DIR).glob("*.json")):
        if not is_tenant_path(f"{TENANTS_DIR}/{file.name}"):
            continue
        if file.is_symlink():
            # Nix does not read it, and rewriting it would read whatever it points to.
            failed += 1
            print(f"{file}: not formatted: is a symlink, see `gitops-bot check`", file=sys.stderr)
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        try:
            canonical = Tenant.model_validate_json(text).to_json()
        except ValidationError as invalid:
            failed += 1
            print(
                f"{file}: not formatted: {invalid.error_count()} error(s), see `gitops-bot check`",
                file=sys.stderr,
            )
            continue
        if canonical != text:
            changed += 1
            print(file)
            if not args.check:
                replace_file(file, canonical)
    if failed:
        return 1
    return 1 if args.check and changed else 0


class LinkedFolderError(OSError):
    """The folder to write in is a symlink."""


def replace_file(file: Path, text: str) -> None:
    """Replace `file` by a new one with `text`, never writing through a link.

    The draft is a new file that mkstemp creates exclusively beside the target, so a
    committed symlink cannot redirect the write, and an interrupted run leaves the old
    file whole. os.replace swaps the name itself: a link at `file` is replaced, not
    followed. A linked folder is refused, as it would put the file somewhere else.
    """
    if file.parent.is_symlink():
        raise LinkedFolderError(f"{file.parent}: is a symlink; not writing {file.name} through it")
    handle, draft = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        Path(draft).replace(file)
    except BaseException:
        Path(draft).unlink(missing_ok=True)
        raise
