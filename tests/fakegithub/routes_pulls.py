"""The Pulls API: open, list, read, edit and merge pull requests."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from fakegithub import gittrees, pulls, shapes
from fakegithub.core import API_PREFIX, Core
from fakegithub.state import Pull
from fakegithub.web import (
    Ctx,
    Router,
    json_response,
    no_content,
    not_found,
    paged_response,
    validation_failed,
)

router = Router()
P = API_PREFIX + "/repos/<owner>/<repo>/pulls"


def _part(core: Core, ref: str, sha: str | None) -> dict[str, Any]:
    owner = core.settings.owner
    return {
        "label": f"{owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": {**shapes.user(core, owner), "type": "Organization"},
        "repo": shapes.repository(core),
    }


def pull_json(core: Core, pr: Pull, *, full: bool = True) -> dict[str, Any]:
    """The pull request; full adds what GitHub leaves out of list answers (mergeability, stats)."""
    api, html, n = core.urls.repo_api(core.settings), core.urls.html(core.settings), pr.number
    head, base = pulls.head_sha(core, pr), pulls.base_sha(core, pr)
    iso = core.clock.iso
    data: dict[str, Any] = {
        "url": f"{api}/pulls/{n}",
        "id": pr.id,
        "node_id": shapes.node_id("PR", pr.id),
        "html_url": f"{html}/pull/{n}",
        "diff_url": f"{html}/pull/{n}.diff",
        "patch_url": f"{html}/pull/{n}.patch",
        "issue_url": f"{api}/issues/{n}",
        "commits_url": f"{api}/pulls/{n}/commits",
        "review_comments_url": f"{api}/pulls/{n}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{n}/comments",
        "statuses_url": f"{api}/statuses/{head}",
        "number": n,
        "state": pr.state,
        "locked": False,
        "title": pr.title,
        "user": shapes.user(core, pr.user),
        "body": pr.body,
        "labels": [shapes.label_json(core, name) for name in pr.labels],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at),
        "closed_at": iso(pr.closed_at) if pr.closed_at else None,
        "merged_at": iso(pr.merged_at) if pr.merged_at else None,
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [shapes.user(core, u) for u in pr.requested_reviewers],
        "requested_teams": [shapes.team_json(core, t) for t in pr.requested_teams],
        "head": _part(core, pr.head_ref, head),
        "base": _part(core, pr.base_ref, base),
        "_links": {
            "self": {"href": f"{api}/pulls/{n}"},
            "html": {"href": f"{html}/pull/{n}"},
            "issue": {"href": f"{api}/issues/{n}"},
            "comments": {"href": f"{api}/issues/{n}/comments"},
        },
        "author_association": "MEMBER",
        "auto_merge": None
        if pr.auto_merge is None
        else {
            "enabled_by": shapes.user(core, pr.auto_merge.enabled_by),
            "merge_method": pr.auto_merge.merge_method,
            "commit_title": pr.auto_merge.commit_title,
            "commit_message": pr.auto_merge.commit_message,
        },
        "draft": pr.draft,
    }
    if full:
        mergeable, state = pulls.mergeability(core, pr)
        files = gittrees.diff(core.repo, base, head) if head and base else []
        commits = core.repo.rev_list("--count", f"{base}..{head}") if head and base else ["0"]
        data.update(
            merged=pr.merged,
            mergeable=mergeable,
            rebaseable=mergeable,
            mergeable_state=state,
            merged_by=shapes.user(core, pr.merged_by) if pr.merged_by else None,
            comments=sum(c.issue_number == n for c in core.state.comments.values()),
            review_comments=0,
            maintainer_can_modify=pr.maintainer_can_modify,
            commits=int(commits[0]),
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
            changed_files=len(files),
        )
    return data


def get_pull(ctx: Ctx) -> Pull:
    try:
        pr = ctx.core.state.pulls.get(int(ctx.args["number"]))
    except ValueError:
        pr = None
    if pr is None:
        raise not_found()
    return pr


def _strip_owner(core: Core, head: str) -> str:
    owner, sep, branch = head.partition(":")
    if not sep:
        return head
    if owner.lower() != core.settings.owner.lower():
        raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
    return branch


@router.route("POST", P)
def create_pull(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    title, head, base = body.get("title"), body.get("head"), body.get("base")
    for field, value in (("title", title), ("head", head), ("base", base)):
        if not isinstance(value, str) or not value:
            raise validation_failed(
                {"resource": "PullRequest", "field": field, "code": "missing_field"}
            )
    assert isinstance(head, str)
    assert isinstance(base, str)
    assert isinstance(title, str)
    head = _strip_owner(core, head)
    with core.lock:
        base_tip, head_tip = core.branch_sha(base), core.branch_sha(head)
        if base_tip is None:
            raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
        if head_tip is None:
            raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
        if core.repo.is_ancestor(head_tip, base_tip):
            message = f"No commits between {base} and {head}"
            raise validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": message}
            )
        for other in core.state.pulls.values():
            if other.state == "open" and (other.head_ref, other.base_ref) == (head, base):
                message = f"A pull request already exists for {core.settings.owner}:{head}."
                raise validation_failed(
                    {"resource": "PullRequest", "code": "custom", "message": message}
                )
        now = core.clock.time()
        pr = Pull(
            number=next(core.state.numbers),
            id=core.state.next_id(),
            title=title,
            body=body.get("body"),
            user=ctx.principal.login,
            head_ref=head,
            base_ref=base,
            draft=body.get("draft") is True,
            maintainer_can_modify=body.get("maintainer_can_modify") is not False,
            created_at=now,
            updated_at=now,
            head_sha=head_tip,
        )
        core.state.pulls[pr.number] = pr
        return json_response(pull_json(core, pr), 201)


@router.route("GET", P)
def list_pulls(ctx: Ctx) -> Response:
    core = ctx.core
    state = ctx.query("state", "open")
    head, base = ctx.query("head"), ctx.query("base")
    with core.lock:
        found = [p for p in core.state.pulls.values() if state in {"all", p.state}]
        # GitHub ignores a head filter without the "owner:" part and lists every pull request.
        if head and ":" in head:
            owner, _, branch = head.partition(":")
            same_owner = owner.lower() == core.settings.owner.lower()
            found = [p for p in found if same_owner and p.head_ref == branch]
        if base:
            found = [p for p in found if p.base_ref == base]
        sort = ctx.query("sort", "created")
        key = "updated_at" if sort in {"updated", "popularity"} else "created_at"
        descending = ctx.query("direction", "desc" if sort == "created" else "asc") == "desc"
        found.sort(key=lambda p: (getattr(p, key), p.number), reverse=descending)
        return paged_response(ctx, [pull_json(core, p, full=False) for p in found])


@router.route("GET", P + "/<number>")
def read_pull(ctx: Ctx) -> Response:
    with ctx.core.lock:
        return json_response(pull_json(ctx.core, get_pull(ctx)))


@router.route("PATCH", P + "/<number>")
def edit_pull(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    with core.lock:
        pr = get_pull(ctx)
        if "title" in body:
            pr.title = str(body["title"])
        if "body" in body:
            pr.body = body["body"]
        if "maintainer_can_modify" in body:
            pr.maintainer_can_modify = body["maintainer_can_modify"] is True
        if "base" in body:
            if core.branch_sha(str(body["base"])) is None:
                raise validation_failed(
                    {"resource": "PullRequest", "field": "base", "code": "invalid"}
                )
            pr.base_ref = str(body["base"])
        state = body.get("state")
        if state == "closed" and pr.state == "open":
            pr.head_sha, pr.base_sha = pulls.head_sha(core, pr), pulls.base_sha(core, pr)
            pr.state, pr.closed_at, pr.auto_merge = "closed", core.clock.time(), None
        elif state == "open" and pr.state == "closed":
            if pr.merged or core.branch_sha(pr.head_ref) is None:
                raise validation_failed(
                    {"resource": "PullRequest", "field": "state", "code": "invalid"}
                )
            pr.state, pr.closed_at = "open", None
        elif state not in {None, "open", "closed"}:
            raise validation_failed(
                {"resource": "PullRequest", "field": "state", "code": "invalid"}
            )
        pr.updated_at = core.clock.time()
        pulls.on_refs_changed(core)
        return json_response(pull_json(core, pr))


@router.route("PUT", P + "/<number>/merge")
def merge_pull(ctx: Ctx) -> Response:
    body = ctx.obj()
    with ctx.core.lock:
        pr = get_pull(ctx)
        sha = pulls.merge(
            ctx.core,
            pr,
            merged_by=ctx.principal.login,
            method=str(body.get("merge_method", "merge")),
            title=body.get("commit_title"),
            message=body.get("commit_message"),
            expected_head=body.get("sha"),
        )
    return json_response(
        {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
    )


@router.route("GET", P + "/<number>/merge")
def is_merged(ctx: Ctx) -> Response:
    if get_pull(ctx).merged:
        return no_content()
    raise not_found()
