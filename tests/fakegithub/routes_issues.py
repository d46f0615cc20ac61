"""The Issues API as far as pull requests use it: the issue, its labels and its comments."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from fakegithub import shapes
from fakegithub.core import API_PREFIX, Core
from fakegithub.state import Comment, Pull
from fakegithub.web import (
    ApiError,
    Ctx,
    Router,
    json_response,
    no_content,
    not_found,
    paged_response,
)

router = Router()
ISSUES = API_PREFIX + "/repos/<owner>/<repo>/issues"


def _issue(ctx: Ctx) -> Pull:
    """Only pull requests exist as issues in the fake, so every issue number is a pull's."""
    try:
        pr = ctx.core.state.pulls.get(int(ctx.args["number"]))
    except ValueError:
        pr = None
    if pr is None:
        raise not_found()
    return pr


def comment_json(core: Core, comment: Comment) -> dict[str, Any]:
    api, html = core.urls.repo_api(core.settings), core.urls.html(core.settings)
    return {
        "id": comment.id,
        "node_id": shapes.node_id("IC", comment.id),
        "url": f"{api}/issues/comments/{comment.id}",
        "html_url": f"{html}/pull/{comment.issue_number}#issuecomment-{comment.id}",
        "issue_url": f"{api}/issues/{comment.issue_number}",
        "body": comment.body,
        "user": shapes.user(core, comment.user),
        "created_at": core.clock.iso(comment.created_at),
        "updated_at": core.clock.iso(comment.updated_at),
        "author_association": "MEMBER",
    }


@router.route("GET", ISSUES + "/<number>")
def get_issue(ctx: Ctx) -> Response:
    core = ctx.core
    with core.lock:
        pr = _issue(ctx)
        api, html = core.urls.repo_api(core.settings), core.urls.html(core.settings)
        return json_response(
            {
                "url": f"{api}/issues/{pr.number}",
                "id": pr.id + 1,
                "node_id": shapes.node_id("I", pr.id),
                "number": pr.number,
                "html_url": f"{html}/pull/{pr.number}",
                "title": pr.title,
                "body": pr.body,
                "user": shapes.user(core, pr.user),
                "state": pr.state,
                "labels": [shapes.label_json(core, n) for n in pr.labels],
                "assignees": [],
                "comments": sum(c.issue_number == pr.number for c in core.state.comments.values()),
                "created_at": core.clock.iso(pr.created_at),
                "updated_at": core.clock.iso(pr.updated_at),
                "closed_at": core.clock.iso(pr.closed_at) if pr.closed_at else None,
                "pull_request": {
                    "url": f"{api}/pulls/{pr.number}",
                    "html_url": f"{html}/pull/{pr.number}",
                },
                "comments_url": f"{api}/issues/{pr.number}/comments",
                "labels_url": f"{api}/issues/{pr.number}/labels{{/name}}",
                "locked": False,
            }
        )


def _label_names(ctx: Ctx) -> list[str]:
    body = ctx.body()
    # Both a bare array and {"labels": [...]} are documented request bodies.
    names = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(names, list):
        raise ApiError(422, 'Invalid request.\n\n"labels" wasn\'t supplied.')
    out = []
    for name in names:
        label = name.get("name") if isinstance(name, dict) else name
        if not isinstance(label, str) or not label:
            raise ApiError(422, "Invalid request.\n\nFor 'items', must be a string.")
        out.append(label)
    return out


@router.route("GET", ISSUES + "/<number>/labels")
def list_labels(ctx: Ctx) -> Response:
    with ctx.core.lock:
        return paged_response(ctx, [shapes.label_json(ctx.core, n) for n in _issue(ctx).labels])


@router.route("POST", ISSUES + "/<number>/labels")
def add_labels(ctx: Ctx) -> Response:
    names = _label_names(ctx)
    with ctx.core.lock:
        pr = _issue(ctx)
        for name in names:
            label = ctx.core.state.label(name)
            if label.name.lower() not in {n.lower() for n in pr.labels}:
                pr.labels.append(label.name)
        pr.updated_at = ctx.core.clock.time()
        return json_response([shapes.label_json(ctx.core, n) for n in pr.labels])


@router.route("PUT", ISSUES + "/<number>/labels")
def set_labels(ctx: Ctx) -> Response:
    names = _label_names(ctx)
    with ctx.core.lock:
        pr = _issue(ctx)
        pr.labels = list(dict.fromkeys(ctx.core.state.label(n).name for n in names))
        return json_response([shapes.label_json(ctx.core, n) for n in pr.labels])


@router.route("DELETE", ISSUES + "/<number>/labels/<name>")
def remove_label(ctx: Ctx) -> Response:
    with ctx.core.lock:
        pr = _issue(ctx)
        kept = [n for n in pr.labels if n.lower() != ctx.args["name"].lower()]
        if len(kept) == len(pr.labels):
            raise ApiError(404, "Label does not exist")
        pr.labels = kept
        return json_response([shapes.label_json(ctx.core, n) for n in pr.labels])


@router.route("GET", ISSUES + "/<number>/comments")
def list_comments(ctx: Ctx) -> Response:
    with ctx.core.lock:
        pr = _issue(ctx)
        found = [c for c in ctx.core.state.comments.values() if c.issue_number == pr.number]
        return paged_response(ctx, [comment_json(ctx.core, c) for c in found])


@router.route("POST", ISSUES + "/<number>/comments")
def create_comment(ctx: Ctx) -> Response:
    body = ctx.obj().get("body")
    if not isinstance(body, str) or not body:
        raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
    core = ctx.core
    with core.lock:
        pr = _issue(ctx)
        now = core.clock.time()
        comment = Comment(core.state.next_id(), pr.number, ctx.principal.login, body, now, now)
        core.state.comments[comment.id] = comment
        return json_response(comment_json(core, comment), 201)


def _comment(ctx: Ctx) -> Comment:
    try:
        comment = ctx.core.state.comments.get(int(ctx.args["comment_id"]))
    except ValueError:
        comment = None
    if comment is None:
        raise not_found()
    return comment


@router.route("GET", ISSUES + "/comments/<comment_id>")
def get_comment(ctx: Ctx) -> Response:
    with ctx.core.lock:
        return json_response(comment_json(ctx.core, _comment(ctx)))


@router.route("PATCH", ISSUES + "/comments/<comment_id>")
def edit_comment(ctx: Ctx) -> Response:
    body = ctx.obj().get("body")
    if not isinstance(body, str) or not body:
        raise ApiError(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
    with ctx.core.lock:
        comment = _comment(ctx)
        comment.body, comment.updated_at = body, ctx.core.clock.time()
        return json_response(comment_json(ctx.core, comment))


@router.route("DELETE", ISSUES + "/comments/<comment_id>")
def delete_comment(ctx: Ctx) -> Response:
    with ctx.core.lock:
        del ctx.core.state.comments[_comment(ctx).id]
    return no_content()
