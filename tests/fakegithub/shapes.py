"""GitHub's JSON shapes for users, the repository, refs, commits, trees, blobs and files."""

from __future__ import annotations

import base64
from typing import Any

from fakegithub.auth import user_id
from fakegithub.core import RAW_PREFIX, REPO_ID, Core
from fakegithub.gitrepo import CommitData, Signature
from fakegithub.gittrees import TreeEntry


def node_id(prefix: str, value: object) -> str:
    return f"{prefix}_" + base64.urlsafe_b64encode(f"{prefix}:{value}".encode()).decode().rstrip(
        "="
    )


def user(core: Core, login: str) -> dict[str, Any]:
    api = core.urls.api
    return {
        "login": login,
        "id": user_id(login),
        "node_id": node_id("U", login),
        "avatar_url": f"{core.urls.root}/avatars/{login}",
        "url": f"{api}/users/{login}",
        "html_url": f"{core.urls.root}/{login}",
        "type": "Bot" if login.endswith("[bot]") else "User",
        "site_admin": False,
    }


def repository(core: Core) -> dict[str, Any]:
    s = core.settings
    api = core.urls.repo_api(s)
    return {
        "id": REPO_ID,
        "node_id": node_id("R", REPO_ID),
        "name": s.repo,
        "full_name": f"{s.owner}/{s.repo}",
        "owner": {**user(core, s.owner), "type": "Organization"},
        "private": True,
        "visibility": "private",
        "html_url": core.urls.html(s),
        "description": None,
        "fork": False,
        "url": api,
        "git_refs_url": f"{api}/git/refs{{/sha}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "default_branch": s.default_branch,
        "archived": False,
        "disabled": False,
        "allow_merge_commit": True,
        "allow_squash_merge": True,
        "allow_rebase_merge": True,
        "allow_auto_merge": s.allow_auto_merge,
        "delete_branch_on_merge": s.delete_branch_on_merge,
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
    }


def ref(core: Core, name: str, sha: str) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    return {
        "ref": name,
        "node_id": node_id("REF", name),
        "url": f"{api}/git/{name}",
        "object": {"type": "commit", "sha": sha, "url": f"{api}/git/commits/{sha}"},
    }


def _person(core: Core, sig: Signature) -> dict[str, Any]:
    return {"name": sig.name, "email": sig.email, "date": core.clock.iso(sig.epoch)}


def _parents(core: Core, commit: CommitData, kind: str) -> list[dict[str, Any]]:
    api = core.urls.repo_api(core.settings)
    html = core.urls.html(core.settings)
    return [
        {"sha": p, "url": f"{api}/{kind}/{p}", "html_url": f"{html}/commit/{p}"}
        for p in commit.parents
    ]


_UNSIGNED = {"verified": False, "reason": "unsigned", "signature": None, "payload": None}


def git_commit(core: Core, commit: CommitData) -> dict[str, Any]:
    """The Git Data API's commit (GET/POST /git/commits, and inside contents answers)."""
    api = core.urls.repo_api(core.settings)
    return {
        "sha": commit.sha,
        "node_id": node_id("C", commit.sha),
        "url": f"{api}/git/commits/{commit.sha}",
        "html_url": f"{core.urls.html(core.settings)}/commit/{commit.sha}",
        "author": _person(core, commit.author),
        "committer": _person(core, commit.committer),
        "tree": {"sha": commit.tree, "url": f"{api}/git/trees/{commit.tree}"},
        "message": commit.message,
        "parents": _parents(core, commit, "git/commits"),
        "verification": dict(_UNSIGNED),
    }


def _account(core: Core, sig: Signature) -> dict[str, Any] | None:
    # GitHub links a commit to an account through the noreply address it knows.
    if sig.email.endswith("@users.noreply.github.com"):
        return user(core, sig.email.split("+", 1)[-1].split("@", 1)[0])
    return None


def rest_commit(core: Core, commit: CommitData) -> dict[str, Any]:
    """The Commits API's commit (GET /commits/{ref}, compare, pulls)."""
    api = core.urls.repo_api(core.settings)
    inner = git_commit(core, commit)
    return {
        "sha": commit.sha,
        "node_id": node_id("C", commit.sha),
        "url": f"{api}/commits/{commit.sha}",
        "html_url": f"{core.urls.html(core.settings)}/commit/{commit.sha}",
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "commit": {
            "url": inner["url"],
            "author": inner["author"],
            "committer": inner["committer"],
            "message": commit.message,
            "tree": inner["tree"],
            "comment_count": 0,
            "verification": inner["verification"],
        },
        "author": _account(core, commit.author),
        "committer": _account(core, commit.committer),
        "parents": _parents(core, commit, "commits"),
    }


def tree_entry(core: Core, entry: TreeEntry) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    kind = {"blob": "blobs", "tree": "trees"}.get(entry.type)
    item: dict[str, Any] = {
        "path": entry.path,
        "mode": entry.mode,
        "type": entry.type,
        "sha": entry.sha,
    }
    if entry.type == "blob":
        item["size"] = entry.size
    if kind is not None:
        item["url"] = f"{api}/git/{kind}/{entry.sha}"
    return item


def tree(core: Core, sha: str, entries: list[TreeEntry], *, truncated: bool) -> dict[str, Any]:
    return tree_of(core, sha, [tree_entry(core, e) for e in entries], truncated=truncated)


def tree_of(
    core: Core, sha: str, items: list[dict[str, Any]], *, truncated: bool
) -> dict[str, Any]:
    """A tree's answer from entries already in their JSON shape."""
    return {
        "sha": sha,
        "url": f"{core.urls.repo_api(core.settings)}/git/trees/{sha}",
        "tree": items,
        "truncated": truncated,
    }


def b64(data: bytes) -> str:
    """GitHub wraps base64 content at 60 characters, each line ending in a newline."""
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def content_file(
    core: Core,
    path: str,
    *,
    sha: str,
    size: int,
    ref: str,
    data: bytes | None,
    commit: str,
) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    html = core.urls.html(core.settings)
    raw = f"{core.urls.root}{RAW_PREFIX}/{core.settings.owner}/{core.settings.repo}"
    item: dict[str, Any] = {
        "type": "file",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": size,
        "url": f"{api}/contents/{path}?ref={ref}",
        "html_url": f"{html}/blob/{ref}/{path}",
        "git_url": f"{api}/git/blobs/{sha}",
        # Pinned to the commit, so the raw route never has to split a ref from a path.
        "download_url": f"{raw}/{commit}/{path}",
    }
    item["_links"] = {"self": item["url"], "git": item["git_url"], "html": item["html_url"]}
    if data is not None:
        # Past 1 MB GitHub leaves content empty and says encoding "none".
        if size > 1024 * 1024:
            item.update(content="", encoding="none")
        else:
            item.update(content=b64(data), encoding="base64")
    return item


def content_dir_entry(core: Core, entry: TreeEntry, ref: str, commit: str) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    if entry.type == "blob":
        return content_file(
            core, entry.path, sha=entry.sha, size=entry.size or 0, ref=ref, data=None, commit=commit
        )
    kind = "dir" if entry.type == "tree" else "submodule"
    item = {
        "type": kind,
        "name": entry.path.rsplit("/", 1)[-1],
        "path": entry.path,
        "sha": entry.sha,
        "size": 0,
        "url": f"{api}/contents/{entry.path}?ref={ref}",
        "html_url": f"{core.urls.html(core.settings)}/tree/{ref}/{entry.path}",
        "git_url": f"{api}/git/trees/{entry.sha}",
        "download_url": None,
    }
    item["_links"] = {"self": item["url"], "git": item["git_url"], "html": item["html_url"]}
    return item


def label_json(core: Core, name: str) -> dict[str, Any]:
    label = core.state.label(name)
    return {
        "id": label.id,
        "node_id": node_id("LA", label.id),
        "url": f"{core.urls.repo_api(core.settings)}/labels/{label.name}",
        "name": label.name,
        "color": label.color,
        "default": False,
        "description": label.description,
    }


def team_json(core: Core, slug: str) -> dict[str, Any]:
    org = core.settings.owner
    return {
        "id": user(core, f"team:{slug}")["id"],
        "node_id": node_id("T", slug),
        "name": slug,
        "slug": slug,
        "url": f"{core.urls.api}/orgs/{org}/teams/{slug}",
        "html_url": f"{core.urls.root}/orgs/{org}/teams/{slug}",
        "privacy": "closed",
        "permission": "pull",
        "description": None,
    }
