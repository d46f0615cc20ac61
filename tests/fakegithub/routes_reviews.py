"""Review requests and reviews of pull requests."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from fakegithub import pulls, shapes
from fakegithub.core import API_PREFIX, Core
from fakegithub.routes_pulls import get_pull, pull_json
from fakegithub.state import Pull, Review
from fakegithub.web import ApiError, Ctx, Router, json_response, paged_response, validation_failed

router = Router()
P = API_PREFIX + "/repos/<owner>/<repo>/pulls"


def _names(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(
            422, f"Invalid request.\n\nFor 'properties/{key}', must be an array of strings."
        )
    return value


@router.route("POST", P + "/<number>/requested_reviewers")
def request_reviewers(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    users, teams = _names(body, "reviewers"), _names(body, "team_reviewers")
    with core.lock:
        pr = get_pull(ctx)
        if pr.user in users:
            raise ApiError(422, "Review cannot be requested from pull request author.")
        s = core.settings
        if (s.collaborators is not None and not set(users) <= s.collaborators) or (
            s.teams is not None and not set(teams) <= s.teams
        ):
            raise ApiError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users or "
                f"teams you specified is not a collaborator of the {s.owner}/{s.repo} repository.",
            )
        pr.requested_reviewers += [u for u in users if u not in pr.requested_reviewers]
        pr.requested_teams += [t for t in teams if t not in pr.requested_teams]
        pr.updated_at = core.clock.time()
        return json_response(pull_json(core, pr), 201)


@router.route("DELETE", P + "/<number>/requested_reviewers")
def remove_requested_reviewers(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    users, teams = _names(body, "reviewers"), _names(body, "team_reviewers")
    with core.lock:
        pr = get_pull(ctx)
        pr.requested_reviewers = [u for u in pr.requested_reviewers if u not in users]
        pr.requested_teams = [t for t in pr.requested_teams if t not in teams]
        return json_response(pull_json(core, pr))


@router.route("GET", P + "/<number>/requested_reviewers")
def list_requested_reviewers(ctx: Ctx) -> Response:
    with ctx.core.lock:
        pr = get_pull(ctx)
        return json_response(
            {
                "users": [shapes.user(ctx.core, u) for u in pr.requested_reviewers],
                "teams": [shapes.team_json(ctx.core, t) for t in pr.requested_teams],
            }
        )


def review_json(core: Core, pr: Pull, review: Review) -> dict[str, Any]:
    api, html = core.urls.repo_api(core.settings), core.urls.html(core.settings)
    return {
        "id": review.id,
        "node_id": shapes.node_id("PRR", review.id),
        "user": shapes.user(core, review.user),
        "body": review.body,
        "state": review.state,
        "html_url": f"{html}/pull/{pr.number}#pullrequestreview-{review.id}",
        "pull_request_url": f"{api}/pulls/{pr.number}",
        "author_association": "MEMBER",
        "submitted_at": core.clock.iso(review.submitted_at),
        "commit_id": review.commit_id,
        "_links": {
            "html": {"href": f"{html}/pull/{pr.number}#pullrequestreview-{review.id}"},
            "pull_request": {"href": f"{api}/pulls/{pr.number}"},
        },
    }


@router.route("GET", P + "/<number>/reviews")
def list_reviews(ctx: Ctx) -> Response:
    with ctx.core.lock:
        pr = get_pull(ctx)
        return paged_response(ctx, [review_json(ctx.core, pr, r) for r in pr.reviews])


_EVENTS = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


@router.route("POST", P + "/<number>/reviews")
def create_review(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    event = body.get("event")
    state = _EVENTS.get(str(event), "PENDING") if event is not None else "PENDING"
    if event is not None and event not in _EVENTS:
        raise validation_failed(
            {"resource": "PullRequestReview", "field": "event", "code": "invalid"}
        )
    with core.lock:
        pr = get_pull(ctx)
        if pr.user == ctx.principal.login and state == "APPROVED":
            raise ApiError(
                422, "Unprocessable Entity", errors=["Can not approve your own pull request"]
            )
        if state in {"CHANGES_REQUESTED", "COMMENTED"} and not body.get("body"):
            raise ApiError(422, "Unprocessable Entity", errors=["Body is required for this event"])
        review = pulls.add_review(core, pr, ctx.principal.login, state, str(body.get("body") or ""))
        return json_response(review_json(core, pr, review))
