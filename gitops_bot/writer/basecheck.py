"""The checker against an earlier revision: fields that never change, and host moves."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

from gitops_bot.backends import gitrepo
from gitops_bot.contract.checker import TENANTS_DIR, Problem, Report, is_tenant_path, line_of

# What names a tenant and its history: changing one would make it another tenant (a new
# uid would also leave the tenant's files to an owner nobody is any more).
IMMUTABLE: Final = ("slug", "createdAt", "origin", "uid")
MIGRATION_TRAILER: Final = "Gitops-Migration"


def changed_paths(repo: Path, base: str) -> list[str]:
    """Tenant files that differ between `base` and the checkout, new untracked ones included."""
    diff = gitrepo.run(repo, "diff", "--name-only", "-z", "--no-renames", base, "--", TENANTS_DIR)
    untracked = gitrepo.run(
        repo, "ls-files", "-z", "--others", "--exclude-standard", "--", TENANTS_DIR
    )
    names = {name.decode() for name in (diff + b"\0" + untracked).split(b"\0") if name}
    return sorted(name for name in names if is_tenant_path(name))


def migrations(repo: Path, base: str, head: str = "HEAD") -> set[str]:
    """Slugs whose host move the commits since `base` declare with a Gitops-Migration trailer."""
    return set(gitrepo.trailers(repo, base, head, MIGRATION_TRAILER))


def check_changes(
    before: Mapping[str, bytes],
    after: Mapping[str, bytes],
    *,
    allowed_moves: Collection[str] = (),
) -> list[Problem]:
    """Problems in how each tenant file changed from `before` to `after` (both keyed by path).

    Files that do not parse on either side are left to the ordinary checks.
    """
    problems = []
    for path, old_bytes in before.items():
        new_bytes = after.get(path)
        if new_bytes is None or new_bytes == old_bytes:
            continue
        old, new = _fields(old_bytes), _fields(new_bytes)
        if old is None or new is None:
            continue
        text = new_bytes.decode("utf-8", "replace")
        for key in IMMUTABLE:
            # Pinning a uid a file never had (`gitops-bot pin-uids`) is not a change.
            if key in old and old[key] != new.get(key):
                message = f"cannot change once set (was {json.dumps(old.get(key))})"
                problems.append(Problem(path, line_of(text, key), message, key))
        slug = str(new.get("slug"))
        if old.get("host") != new.get("host") and slug not in allowed_moves:
            message = (
                f"moved from {old.get('host')} to {new.get('host')}: a host move must be marked "
                f"as a migration (a '{MIGRATION_TRAILER}: {slug}' commit trailer)"
            )
            problems.append(Problem(path, line_of(text, "host"), message, "host"))
    return problems


def check_against(repo: Path, base: str, report: Report, files: Mapping[str, bytes]) -> Report:
    """`report` (the ordinary checks of `files`, the checkout) plus the rules against `base`."""
    commit = gitrepo.resolve(repo, base)
    paths = changed_paths(repo, commit)
    before = gitrepo.read_files(repo, commit, *paths) if paths else {}
    after = {path: files[path] for path in paths if path in files}
    moves = migrations(repo, commit)
    report.problems.extend(check_changes(before, after, allowed_moves=moves))
    report.problems.sort()
    return report


def _fields(content: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
