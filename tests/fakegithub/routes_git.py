"""The Git Data API: refs, commits, trees and blobs."""

from __future__ import annotations

import base64
import binascii
import json

from werkzeug.wrappers import Response

from fakegithub import branches, gittrees, pulls, shapes
from fakegithub.core import API_PREFIX, fault_path
from fakegithub.gitrepo import SHA_RE
from fakegithub.web import ApiError, Ctx, Router, json_response, no_content, not_found

router = Router()
R = API_PREFIX + "/repos/<owner>/<repo>"
BOTH = "Must supply either tree.sha or tree.content. Request will be rejected if both are present."


# -- refs ----------------------------------------------------------------------------------


def _refs_with_prefix(ctx: Ctx, prefix: str) -> list[tuple[str, str]]:
    # GitHub matches a plain string prefix, so heads/feat matches heads/feature-1.
    return sorted((n, s) for n, s in ctx.core.repo.refs() if n.startswith(prefix))


@router.route("GET", R + "/git/ref/<path:ref>")
def get_ref(ctx: Ctx) -> Response:
    name = "refs/" + ctx.args["ref"]
    sha = ctx.core.repo.ref(name)
    if sha is None:
        raise not_found()
    if ctx.core.faults.draw(["stale_read"], "GET", fault_path(ctx.request.path)):
        # A lagging replica: it has not seen the last update of this ref yet.
        sha = next(iter(ctx.core.repo.read_commit(sha).parents), sha)
    return json_response(shapes.ref(ctx.core, name, sha))


@router.route("GET", R + "/git/matching-refs/<path:ref>")
def matching_refs(ctx: Ctx) -> Response:
    refs = _refs_with_prefix(ctx, "refs/" + ctx.args["ref"])
    return json_response([shapes.ref(ctx.core, n, s) for n, s in refs])


@router.route("GET", R + "/git/refs")
@router.route("GET", R + "/git/refs/<path:ref>")
def legacy_get_refs(ctx: Ctx) -> Response:
    """The older GET /git/refs/{ref}: one ref when it matches exactly, else a prefix list."""
    prefix = "refs/" + ctx.args.get("ref", "")
    refs = _refs_with_prefix(ctx, prefix)
    exact = [(n, s) for n, s in refs if n == prefix]
    if exact:
        return json_response(shapes.ref(ctx.core, *exact[0]))
    if not refs:
        raise not_found()
    return json_response([shapes.ref(ctx.core, n, s) for n, s in refs])


def _commit_sha(ctx: Ctx, body: dict[str, object]) -> str:
    sha = body.get("sha")
    if not isinstance(sha, str):
        raise branches.missing("sha")
    if ctx.core.repo.object_type(sha) != "commit":
        raise ApiError(422, "Object does not exist")
    return sha


@router.route("POST", R + "/git/refs")
def create_ref(ctx: Ctx) -> Response:
    body = ctx.obj()
    name = body.get("ref")
    if not isinstance(name, str):
        raise branches.missing("ref")
    if not name.startswith("refs/") or name.count("/") < 2:
        raise ApiError(422, "Reference name must start with 'refs/' and have at least two slashes.")
    if ctx.core.repo.run("check-ref-format", name, ok=(0, 1)).returncode != 0:
        raise ApiError(422, f"{name} is not a valid ref name.")
    sha = _commit_sha(ctx, body)
    with ctx.core.lock:
        if not ctx.core.repo.update_ref(name, sha, None):
            raise ApiError(422, "Reference already exists")
        pulls.on_refs_changed(ctx.core)
    return json_response(shapes.ref(ctx.core, name, sha), 201)


@router.route("PATCH", R + "/git/refs/<path:ref>")
def update_ref(ctx: Ctx) -> Response:
    name = "refs/" + ctx.args["ref"]
    body = ctx.obj()
    sha = _commit_sha(ctx, body)
    force = body.get("force", False) is True
    core = ctx.core
    with core.lock:
        if core.repo.ref(name) is None:
            raise ApiError(422, "Reference does not exist")
        if name.startswith("refs/heads/") and core.faults.draw(
            ["concurrent_push"], ctx.request.method, fault_path(ctx.request.path)
        ):
            branches.foreign_commit(core, name.removeprefix("refs/heads/"))
        current = core.repo.ref(name)
        if current is None:
            raise ApiError(422, "Reference does not exist")
        if not force and not core.repo.is_ancestor(current, sha):
            raise ApiError(422, "Update is not a fast forward")
        if not core.repo.update_ref(name, sha, current):
            raise RuntimeError("lost a compare-and-swap while holding the lock")
        pulls.on_refs_changed(core)
    return json_response(shapes.ref(core, name, sha))


@router.route("DELETE", R + "/git/refs/<path:ref>")
def delete_ref(ctx: Ctx) -> Response:
    name = "refs/" + ctx.args["ref"]
    with ctx.core.lock:
        current = ctx.core.repo.ref(name)
        if current is None:
            raise ApiError(422, "Reference does not exist")
        ctx.core.repo.delete_ref(name, current)
        pulls.on_refs_changed(ctx.core)
    return no_content()


# -- commits -------------------------------------------------------------------------------


@router.route("GET", R + "/git/commits/<sha>")
def get_commit(ctx: Ctx) -> Response:
    sha = ctx.args["sha"]
    if ctx.core.repo.object_type(sha) != "commit":
        raise not_found()
    return json_response(shapes.git_commit(ctx.core, ctx.core.repo.read_commit(sha)))


@router.route("POST", R + "/git/commits")
def create_commit(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    message, tree, parents = body.get("message"), body.get("tree"), body.get("parents", [])
    if not isinstance(message, str):
        raise branches.missing("message")
    if not isinstance(tree, str):
        raise branches.missing("tree")
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise ApiError(
            422, "Invalid request.\n\nFor 'properties/parents', must be an array of strings."
        )
    if core.repo.object_type(tree) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    types = core.repo.object_types(parents)
    if any(types[p] != "commit" for p in parents):
        raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    default = core.signature(ctx.principal)
    author = branches.parse_signature(body.get("author"), default, "author")
    committer = branches.parse_signature(body.get("committer"), author, "committer")
    sha = core.repo.commit_tree(tree, parents, message, author, committer)
    return json_response(shapes.git_commit(core, core.repo.read_commit(sha)), 201)


# -- trees ---------------------------------------------------------------------------------


@router.route("GET", R + "/git/trees/<path:sha>")
def get_tree(ctx: Ctx) -> Response:
    core, rev = ctx.core, ctx.args["sha"]
    kind = core.repo.object_type(rev)
    if kind == "tree":
        tree = rev
    else:
        commit = rev if kind == "commit" else core.repo.resolve_commit(rev)
        if commit is None:
            raise not_found()
        tree = core.repo.read_commit(commit).tree
    # GitHub turns recursion on for any value of the parameter, even 0 or false.
    recursive = "recursive" in ctx.request.args
    entries = gittrees.ls_tree(core.repo, tree, recursive=recursive)
    # As GitHub documents it: at most 100,000 entries, and with recursion at most 7 MB.
    limit = core.settings.tree_truncate_limit
    items = [shapes.tree_entry(core, e) for e in entries[:limit]]
    truncated = len(entries) > limit
    if recursive:
        budget = core.settings.tree_truncate_bytes
        for n, item in enumerate(items):
            budget -= len(json.dumps(item)) + 2  # the separator between array items
            if budget < 0:
                items, truncated = items[:n], True
                break
    return json_response(shapes.tree_of(core, tree, items, truncated=truncated))


_Inline = tuple[str, str, str, bytes]  # path, mode, type, content still to be stored


def _tree_item(item: object) -> gittrees.TreeChange | _Inline:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        raise ApiError(422, 'Invalid request.\n\n"path" wasn\'t supplied.')
    path, mode, kind = item["path"], str(item.get("mode", "")), str(item.get("type", ""))
    if mode not in gittrees.ALL_MODES:
        raise ApiError(422, f"Invalid request.\n\n{mode!r} is not a valid tree mode.")
    if kind not in {"blob", "tree", "commit"}:
        raise ApiError(422, f"Invalid request.\n\n{kind!r} is not a valid tree type.")
    if not path or path.startswith("/") or path.endswith("/") or "//" in path:
        raise ApiError(422, f"tree.path {path!r} is not a valid path")
    # A present "sha": null deletes; an absent sha with no content is an error.
    if ("sha" in item) == ("content" in item):
        raise ApiError(422, BOTH)
    if "content" in item:
        if not isinstance(item["content"], str) or kind != "blob":
            raise ApiError(422, BOTH)
        return (path, mode, kind, item["content"].encode())
    sha = item["sha"]
    if sha is not None and (not isinstance(sha, str) or not SHA_RE.match(sha)):
        raise ApiError(422, f"tree.sha {sha} is not a valid {kind}")
    return gittrees.TreeChange(path, mode, kind, sha)


def _tree_changes(ctx: Ctx, items: object) -> list[gittrees.TreeChange]:
    if not isinstance(items, list):
        raise branches.missing("tree")
    parsed = [_tree_item(item) for item in items]
    # Every inline content of the request is stored by one git process.
    contents = [p[3] for p in parsed if isinstance(p, tuple)]
    shas = iter(ctx.core.repo.write_blobs(contents))
    changes = [
        gittrees.TreeChange(p[0], p[1], p[2], next(shas)) if isinstance(p, tuple) else p
        for p in parsed
    ]
    # Gitlinks name commits of other repositories, so only blobs and trees must exist here.
    wanted = [c.sha for c in changes if c.sha is not None and c.type != "commit"]
    types = ctx.core.repo.object_types(wanted)
    for change in changes:
        if change.sha is not None and change.type != "commit" and types[change.sha] != change.type:
            raise ApiError(422, f"tree.sha {change.sha} is not a valid {change.type}")
    return changes


@router.route("POST", R + "/git/trees")
def create_tree(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    base = body.get("base_tree")
    if base is not None and (not isinstance(base, str) or core.repo.object_type(base) != "tree"):
        raise ApiError(422, "base_tree is not a valid tree oid")
    changes = _tree_changes(ctx, body.get("tree"))
    try:
        sha = gittrees.build_tree(core.repo, base, changes)
    except gittrees.TreeError as exc:
        raise ApiError(422, str(exc)) from exc
    entries = gittrees.ls_tree(core.repo, sha, recursive=False)
    return json_response(shapes.tree(core, sha, entries, truncated=False), 201)


# -- blobs ---------------------------------------------------------------------------------


@router.route("GET", R + "/git/blobs/<sha>")
def get_blob(ctx: Ctx) -> Response:
    sha, core = ctx.args["sha"], ctx.core
    if core.repo.object_type(sha) != "blob":
        raise not_found()
    data = core.repo.read_blob(sha)
    return json_response(
        {
            "sha": sha,
            "node_id": shapes.node_id("B", sha),
            "size": len(data),
            "url": f"{core.urls.repo_api(core.settings)}/git/blobs/{sha}",
            "content": shapes.b64(data),
            "encoding": "base64",
        }
    )


@router.route("POST", R + "/git/blobs")
def create_blob(ctx: Ctx) -> Response:
    body = ctx.obj()
    content, encoding = body.get("content"), body.get("encoding", "utf-8")
    if not isinstance(content, str):
        raise branches.missing("content")
    if encoding == "utf-8":
        data = content.encode()
    elif encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except binascii.Error as exc:
            raise ApiError(422, "Invalid Base64 content") from exc
    else:
        raise ApiError(422, f"encoding must be one of utf-8 or base64, not {encoding!r}")
    (sha,) = ctx.core.repo.write_blobs([data])
    url = f"{ctx.core.urls.repo_api(ctx.core.settings)}/git/blobs/{sha}"
    return json_response({"url": url, "sha": sha}, 201)
