"""Branch-level operations shared by the routes and the test helpers, each under the repo lock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fakegithub import gittrees, pulls
from fakegithub.core import Core
from fakegithub.gitrepo import Signature
from fakegithub.web import ApiError

FOREIGN = ("Foreign Writer", "foreign-writer@example.invalid")


def missing(field: str) -> ApiError:
    """GitHub's schema-validation answer for an absent required field."""
    return ApiError(422, f'Invalid request.\n\n"{field}" wasn\'t supplied.')


def foreign_commit(
    core: Core,
    branch: str,
    files: Mapping[str, bytes | None] | None = None,
    message: str | None = None,
) -> str:
    """Another writer pushes a commit on top of the branch (creating it when absent)."""
    with core.lock:
        parent = core.branch_sha(branch)
        if files is None:
            # A path no test writes, so the foreign change never conflicts by accident.
            files = {f".foreign/{core.state.next_id()}": b"pushed by another writer\n"}
        sig = Signature(*FOREIGN, int(core.clock.time()))
        sha = gittrees.commit_files(
            core.repo, parent, files, message or "Commit by another writer", sig
        )
        if not core.repo.update_ref(f"refs/heads/{branch}", sha, parent):
            raise RuntimeError("lost a compare-and-swap while holding the lock")
        pulls.on_refs_changed(core)
        return sha


def parse_signature(value: Any, default: Signature, role: str) -> Signature:
    """An author/committer object from a request: name and email required, date optional."""
    if value is None:
        return default
    if not isinstance(value, dict) or not value.get("name") or not value.get("email"):
        raise ApiError(422, f'Invalid request.\n\n"name", "email" weren\'t supplied in "{role}".')
    epoch = default.epoch
    if value.get("date"):
        try:
            epoch = int(datetime.fromisoformat(str(value["date"])).timestamp())
        except ValueError as exc:
            raise ApiError(
                422, f"Invalid request.\n\n{value['date']!r} is not a valid date-time."
            ) from exc
    return Signature(str(value["name"]), str(value["email"]), epoch)


def commit_on_branch(
    core: Core,
    branch: str,
    files: Mapping[str, bytes | None],
    *,
    message: str,
    author: Signature,
    committer: Signature,
) -> str:
    """One commit on a branch's current tip, moved by compare-and-swap (the contents API)."""
    with core.lock:
        parent = core.branch_sha(branch)
        if parent is None:
            raise ApiError(404, f"Branch {branch} not found")
        to_write = [(p, d) for p, d in files.items() if d is not None]
        shas = core.repo.write_blobs([d for _, d in to_write])
        changes = [
            gittrees.TreeChange(p, "100644", "blob", s)
            for (p, _), s in zip(to_write, shas, strict=True)
        ]
        changes += [
            gittrees.TreeChange(p, "100644", "blob", None) for p, d in files.items() if d is None
        ]
        tree = gittrees.build_tree(core.repo, core.repo.read_commit(parent).tree, changes)
        sha = core.repo.commit_tree(tree, [parent], message, author, committer)
        if not core.repo.update_ref(f"refs/heads/{branch}", sha, parent):
            raise RuntimeError("lost a compare-and-swap while holding the lock")
        pulls.on_refs_changed(core)
        return sha
