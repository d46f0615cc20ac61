"""Deploy markers: a tag deployed/<host> at the commit each host was last deployed from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from gitops_bot.backends import gitrepo

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

PREFIX: Final = "refs/tags/deployed/"


def ref(host: str) -> str:
    return f"{PREFIX}{host}"


def read(repo: Path) -> dict[str, str]:
    """The commit each host was last deployed from, by host; hosts never deployed are absent."""
    return {name.removeprefix(PREFIX): sha for name, sha in gitrepo.refs(repo, PREFIX).items()}


def fetch(repo: Path, remote: str, *, token: str | None) -> None:
    """Replace the local markers with the remote's: the remote's are the record that counts."""
    gitrepo.fetch_refs(repo, remote, f"{PREFIX}*", token=token)


def record(
    repo: Path,
    *,
    hosts: Iterable[str],
    commit: str,
    previous: Mapping[str, str],
    remote: str | None,
    token: str | None,
) -> None:
    """Point each host's marker at `commit`, which was just deployed to it successfully.

    Each marker moves only from the value read before the deploy (`previous`), all of them or
    none. Moving a tag is a forced update, which is fine here: a marker is a cursor, not a
    release, and it always names the last good deploy of its host. The remote is updated
    first, so a refused push leaves the local markers as they were too.
    """
    updates = {
        ref(host): (previous.get(host), commit) for host in hosts if previous.get(host) != commit
    }
    if not updates:
        return
    if remote is not None:
        gitrepo.push_refs(repo, remote, updates, token=token)
    for name, (old, new) in updates.items():
        gitrepo.update_ref(repo, name, new, old=old)
