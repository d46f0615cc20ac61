"""Rate-limit status, GitHub App installation tokens, and the auto-merge GraphQL mutations."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from fakegithub import pulls, shapes
from fakegithub.auth import App, Principal
from fakegithub.core import API_PREFIX, GRAPHQL_PATH, Core
from fakegithub.state import AutoMerge
from fakegithub.web import ApiError, Ctx, Router, json_response, not_found

router = Router()


def rate_limit_json(core: Core, principal: Principal) -> dict[str, Any]:
    def bucket(resource: str, limit: int) -> dict[str, Any]:
        b = core.primary.peek(principal.rate_key, resource, limit)
        return {
            "limit": b.limit,
            "remaining": b.remaining,
            "reset": int(b.reset),
            "used": b.used,
            "resource": resource,
        }

    core_bucket = bucket("core", core.settings.primary_limit)
    return {
        "resources": {
            "core": core_bucket,
            "graphql": bucket("graphql", core.settings.graphql_limit),
            "search": bucket("search", 30),
        },
        "rate": core_bucket,
    }


@router.route("GET", API_PREFIX + "/rate_limit")
def rate_limit(ctx: Ctx) -> Response:
    return json_response(rate_limit_json(ctx.core, ctx.principal))


# -- GitHub App ----------------------------------------------------------------------------


def _app(ctx: Ctx) -> App:
    app = ctx.core.tokens.app(ctx.principal.app_id or -1)
    if app is None:
        raise ApiError(401, "A JSON web token could not be decoded")
    return app


def installation_json(core: Core, app: App) -> dict[str, Any]:
    api, owner, iid = core.urls.api, core.settings.owner, app.installation_id
    return {
        "id": iid,
        "account": {**shapes.user(core, owner), "type": "Organization"},
        "access_tokens_url": f"{api}/app/installations/{app.installation_id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{core.urls.root}/organizations/{owner}/settings/installations/{iid}",
        "app_id": app.app_id,
        "app_slug": app.slug,
        "target_id": shapes.user(core, owner)["id"],
        "target_type": "Organization",
        "permissions": app.permissions,
        "events": ["pull_request", "push"],
        "created_at": core.clock.iso(0),
        "updated_at": core.clock.iso(0),
        "single_file_name": None,
        "repository_selection": "selected",
        "suspended_at": None,
        "suspended_by": None,
    }


@router.route("GET", API_PREFIX + "/app", auth="jwt")
def get_app(ctx: Ctx) -> Response:
    app = _app(ctx)
    return json_response(
        {
            "id": app.app_id,
            "slug": app.slug,
            "node_id": shapes.node_id("A", app.app_id),
            "name": app.slug,
            "owner": shapes.user(ctx.core, ctx.core.settings.owner),
            "permissions": app.permissions,
            "events": ["pull_request", "push"],
        }
    )


@router.route("GET", API_PREFIX + "/app/installations/<int:installation_id>", auth="jwt")
def get_installation(ctx: Ctx) -> Response:
    app = _app(ctx)
    if int(ctx.args["installation_id"]) != app.installation_id:
        raise not_found()
    return json_response(installation_json(ctx.core, app))


@router.route("GET", API_PREFIX + "/repos/<owner>/<repo>/installation", auth="jwt")
def repo_installation(ctx: Ctx) -> Response:
    return json_response(installation_json(ctx.core, _app(ctx)))


@router.route(
    "POST", API_PREFIX + "/app/installations/<int:installation_id>/access_tokens", auth="jwt"
)
def create_installation_token(ctx: Ctx) -> Response:
    core, app = ctx.core, _app(ctx)
    if int(ctx.args["installation_id"]) != app.installation_id:
        raise not_found()
    body = ctx.obj()
    wanted = body.get("permissions") or app.permissions
    if not isinstance(wanted, dict) or any(
        app.permissions.get(k) not in {v, "write"} for k, v in wanted.items()
    ):
        raise ApiError(422, "The permissions requested are not granted to this installation.")
    expires_at = core.clock.time() + core.settings.installation_token_ttl
    token = core.tokens.new_token("ghs_")
    principal = Principal(app.bot_login, "installation", app.installation_id, app.app_id)
    core.tokens.add(token, principal, expires_at=expires_at)
    return json_response(
        {
            "token": token,
            "expires_at": core.clock.iso(expires_at),
            "permissions": wanted,
            "repository_selection": "selected",
        },
        201,
    )


# -- GraphQL -------------------------------------------------------------------------------

_OPERATION = re.compile(r"\b(enablePullRequestAutoMerge|disablePullRequestAutoMerge)\s*\(")
_GRAPHQL_METHODS = {"MERGE": "merge", "SQUASH": "squash", "REBASE": "rebase"}


def is_mutation(query: object) -> bool:
    return isinstance(query, str) and query.lstrip().startswith("mutation")


def _gql_error(name: str, kind: str, message: str) -> Response:
    # GraphQL reports failures with HTTP 200 and an errors list; data is null for the field.
    return json_response(
        {
            "data": {name: None},
            "errors": [
                {
                    "type": kind,
                    "path": [name],
                    "locations": [{"line": 1, "column": 1}],
                    "message": message,
                }
            ],
        }
    )


@router.route("POST", GRAPHQL_PATH)
def graphql(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    query, variables = body.get("query"), body.get("variables") or {}
    match = _OPERATION.search(query) if isinstance(query, str) else None
    if match is None or not isinstance(variables, dict):
        message = "The fake GitHub implements only enable/disablePullRequestAutoMerge"
        return json_response({"errors": [{"message": message}]})
    name = match.group(1)
    data = variables.get("input") or {}
    node = data.get("pullRequestId") if isinstance(data, dict) else None
    with core.lock:
        pr = pulls.find_by_node_id(core, str(node))
        if pr is None:
            return _gql_error(
                name, "NOT_FOUND", f"Could not resolve to a node with the global id of '{node}'"
            )
        if name == "disablePullRequestAutoMerge":
            pr.auto_merge = None
        else:
            refusal = _refuse_auto_merge(core, pr)
            if refusal is not None:
                return _gql_error(name, "UNPROCESSABLE", refusal)
            method = _GRAPHQL_METHODS.get(str(data.get("mergeMethod", "MERGE")), "merge")
            pr.auto_merge = AutoMerge(
                ctx.principal.login, method, data.get("commitHeadline"), data.get("commitBody")
            )
        pr.updated_at = core.clock.time()
    login = ctx.principal.login
    actor = {
        "avatarUrl": f"{core.urls.root}/avatars/{login}",
        "login": login,
        "resourcePath": f"/{login}",
        "url": f"{core.urls.root}/{login}",
    }
    return json_response(
        {"data": {name: {"actor": actor, "clientMutationId": data.get("clientMutationId")}}}
    )


def _refuse_auto_merge(core: Core, pr: Any) -> str | None:
    """GitHub only queues auto-merge for a pull request that is waiting on something."""
    if not core.settings.allow_auto_merge:
        return "Pull request Auto merge is not allowed for this repository"
    if pr.state != "open":
        return "Pull request Pull request is closed"
    _, state = pulls.mergeability(core, pr)
    if state in {"clean", "unstable", "dirty", "draft"}:
        return f"Pull request Pull request is in {state} status"
    return None
