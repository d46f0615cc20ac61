"""The contents API: read a file or directory, and commit one file at a time (PUT, DELETE)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from werkzeug.wrappers import Response

from fakegithub import branches, gittrees, shapes
from fakegithub.core import API_PREFIX, Core
from fakegithub.routes_repo import resolve
from fakegithub.web import ApiError, Ctx, Router, json_response, not_found

router = Router()
R = API_PREFIX + "/repos/<owner>/<repo>"


@router.route("GET", R + "/contents")
@router.route("GET", R + "/contents/<path:path>")
def get_contents(ctx: Ctx) -> Response:
    core = ctx.core
    path = ctx.args.get("path", "").strip("/")
    ref = ctx.query("ref") or core.settings.default_branch
    commit = resolve(ctx, ref)
    if not path:
        entries = gittrees.ls_tree(core.repo, commit, recursive=False)
        return json_response([shapes.content_dir_entry(core, e, ref, commit) for e in entries])
    entry = gittrees.entry_at(core.repo, commit, path)
    if entry is None:
        raise not_found()
    if entry.type == "tree":
        children = gittrees.ls_tree(core.repo, entry.sha, recursive=False)
        return json_response(
            [
                shapes.content_dir_entry(
                    core,
                    gittrees.TreeEntry(c.mode, c.type, c.sha, c.size, f"{path}/{c.path}"),
                    ref,
                    commit,
                )
                for c in children
            ]
        )
    if entry.type != "blob":
        return json_response(shapes.content_dir_entry(core, entry, ref, commit))
    data = core.repo.read_blob(entry.sha)
    return json_response(
        shapes.content_file(
            core, path, sha=entry.sha, size=len(data), ref=ref, data=data, commit=commit
        )
    )


def _write_target(ctx: Ctx) -> tuple[str, str, dict[str, Any]]:
    body = ctx.obj()
    path = ctx.args.get("path", "").strip("/")
    if not path:
        raise not_found()
    if not isinstance(body.get("message"), str):
        raise branches.missing("message")
    return path, str(body.get("branch") or ctx.core.settings.default_branch), body


def _check_sha(ctx: Ctx, branch: str, path: str, given: object, *, required: bool) -> bool:
    """Whether the file exists; GitHub's 422/409 when the caller's sha does not fit."""
    tip = ctx.core.branch_sha(branch)
    if tip is None:
        raise ApiError(404, f"Branch {branch} not found")
    entry = gittrees.entry_at(ctx.core.repo, tip, path)
    if entry is not None and entry.type == "tree":
        raise ApiError(422, f"Invalid request.\n\n{path} is a directory.")
    if entry is None:
        if required:
            raise not_found()
        return False
    if given is None:
        raise branches.missing("sha")
    if given != entry.sha:
        raise ApiError(409, f"{path} does not match {given}")
    return True


def _contents_answer(
    core: Core, path: str, branch: str, commit_sha: str, *, deleted: bool
) -> dict[str, Any]:
    commit = core.repo.read_commit(commit_sha)
    content = None
    if not deleted:
        entry = gittrees.entry_at(core.repo, commit_sha, path)
        assert entry is not None
        content = shapes.content_file(
            core,
            path,
            sha=entry.sha,
            size=entry.size or 0,
            ref=branch,
            data=None,
            commit=commit_sha,
        )
    return {"content": content, "commit": shapes.git_commit(core, commit)}


@router.route("PUT", R + "/contents/<path:path>")
def put_contents(ctx: Ctx) -> Response:
    core = ctx.core
    path, branch, body = _write_target(ctx)
    if not isinstance(body.get("content"), str):
        raise branches.missing("content")
    try:
        data = base64.b64decode(body["content"], validate=True)
    except binascii.Error as exc:
        raise ApiError(422, "content is not valid Base64") from exc
    committer = branches.parse_signature(
        body.get("committer"), core.signature(ctx.principal), "committer"
    )
    author = branches.parse_signature(body.get("author"), committer, "author")
    with core.lock:
        existed = _check_sha(ctx, branch, path, body.get("sha"), required=False)
        sha = branches.commit_on_branch(
            core, branch, {path: data}, message=body["message"], author=author, committer=committer
        )
        return json_response(
            _contents_answer(core, path, branch, sha, deleted=False), 200 if existed else 201
        )


@router.route("DELETE", R + "/contents/<path:path>")
def delete_contents(ctx: Ctx) -> Response:
    core = ctx.core
    path, branch, body = _write_target(ctx)
    committer = branches.parse_signature(
        body.get("committer"), core.signature(ctx.principal), "committer"
    )
    author = branches.parse_signature(body.get("author"), committer, "author")
    with core.lock:
        _check_sha(ctx, branch, path, body.get("sha"), required=True)
        sha = branches.commit_on_branch(
            core, branch, {path: None}, message=body["message"], author=author, committer=committer
        )
        return json_response(_contents_answer(core, path, branch, sha, deleted=True))
