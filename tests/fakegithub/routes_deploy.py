"""The Deployments API: deployments of a ref and their statuses."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from fakegithub import shapes
from fakegithub.core import API_PREFIX, Core
from fakegithub.state import Deployment, DeploymentStatus
from fakegithub.web import (
    ApiError,
    Ctx,
    Router,
    json_response,
    not_found,
    paged_response,
    validation_failed,
)

router = Router()
D = API_PREFIX + "/repos/<owner>/<repo>/deployments"
STATES = frozenset({"error", "failure", "inactive", "in_progress", "queued", "pending", "success"})


def deployment_json(core: Core, d: Deployment) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    return {
        "url": f"{api}/deployments/{d.id}",
        "id": d.id,
        "node_id": shapes.node_id("DE", d.id),
        "sha": d.sha,
        "ref": d.ref,
        "task": d.task,
        "payload": d.payload,
        "original_environment": d.original_environment,
        "environment": d.environment,
        "description": d.description,
        "creator": shapes.user(core, d.creator),
        "created_at": core.clock.iso(d.created_at),
        "updated_at": core.clock.iso(d.statuses[-1].created_at if d.statuses else d.created_at),
        "statuses_url": f"{api}/deployments/{d.id}/statuses",
        "repository_url": api,
        "transient_environment": d.transient_environment,
        "production_environment": d.production_environment,
    }


def status_json(core: Core, d: Deployment, s: DeploymentStatus) -> dict[str, Any]:
    api = core.urls.repo_api(core.settings)
    return {
        "url": f"{api}/deployments/{d.id}/statuses/{s.id}",
        "id": s.id,
        "node_id": shapes.node_id("DES", s.id),
        "state": s.state,
        "creator": shapes.user(core, s.creator),
        "description": s.description,
        "environment": s.environment,
        "target_url": s.target_url,
        "log_url": s.log_url,
        "created_at": core.clock.iso(s.created_at),
        "updated_at": core.clock.iso(s.created_at),
        "deployment_url": f"{api}/deployments/{d.id}",
        "repository_url": api,
        "environment_url": s.environment_url,
    }


@router.route("POST", D)
def create_deployment(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation_failed({"resource": "Deployment", "field": "ref", "code": "missing_field"})
    sha = core.repo.resolve_commit(ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    environment = str(body.get("environment") or "production")
    with core.lock:
        deployment = Deployment(
            id=core.state.next_id(),
            sha=sha,
            ref=ref,
            task=str(body.get("task") or "deploy"),
            payload=body.get("payload", {}),
            environment=environment,
            original_environment=environment,
            description=body.get("description"),
            creator=ctx.principal.login,
            transient_environment=body.get("transient_environment") is True,
            production_environment=body.get("production_environment", environment == "production")
            is True,
            created_at=core.clock.time(),
        )
        core.state.deployments[deployment.id] = deployment
        return json_response(deployment_json(core, deployment), 201)


@router.route("GET", D)
def list_deployments(ctx: Ctx) -> Response:
    core = ctx.core
    with core.lock:
        found = sorted(core.state.deployments.values(), key=lambda d: d.id, reverse=True)
        for field in ("sha", "ref", "task", "environment"):
            wanted = ctx.query(field)
            if wanted:
                found = [d for d in found if getattr(d, field) == wanted]
        return paged_response(ctx, [deployment_json(core, d) for d in found])


def _deployment(ctx: Ctx) -> Deployment:
    try:
        deployment = ctx.core.state.deployments.get(int(ctx.args["id"]))
    except ValueError:
        deployment = None
    if deployment is None:
        raise not_found()
    return deployment


@router.route("GET", D + "/<id>")
def get_deployment(ctx: Ctx) -> Response:
    with ctx.core.lock:
        return json_response(deployment_json(ctx.core, _deployment(ctx)))


@router.route("POST", D + "/<id>/statuses")
def create_status(ctx: Ctx) -> Response:
    body, core = ctx.obj(), ctx.core
    state = body.get("state")
    if state not in STATES:
        raise validation_failed(
            {"resource": "DeploymentStatus", "field": "state", "code": "invalid"}
        )
    with core.lock:
        deployment = _deployment(ctx)
        environment = str(body.get("environment") or deployment.environment)
        now = core.clock.time()
        status = DeploymentStatus(
            id=core.state.next_id(),
            state=str(state),
            creator=ctx.principal.login,
            description=str(body.get("description") or ""),
            environment=environment,
            target_url=str(body.get("target_url") or body.get("log_url") or ""),
            log_url=str(body.get("log_url") or body.get("target_url") or ""),
            environment_url=str(body.get("environment_url") or ""),
            created_at=now,
        )
        deployment.statuses.append(status)
        deployment.environment = environment
        if state == "success" and body.get("auto_inactive", True) is not False:
            _deactivate_older(core, deployment, now)
        return json_response(status_json(core, deployment, status), 201)


def _deactivate_older(core: Core, current: Deployment, now: float) -> None:
    """auto_inactive: earlier successful deployments to the same environment become inactive."""
    for other in core.state.deployments.values():
        if other is current or other.environment != current.environment:
            continue
        if other.transient_environment or other.production_environment:
            continue  # GitHub leaves these alone unless told otherwise
        if other.statuses and other.statuses[-1].state == "success":
            last = other.statuses[-1]
            other.statuses.append(
                DeploymentStatus(
                    core.state.next_id(),
                    "inactive",
                    last.creator,
                    "",
                    last.environment,
                    last.target_url,
                    last.log_url,
                    last.environment_url,
                    now,
                )
            )


@router.route("GET", D + "/<id>/statuses")
def list_statuses(ctx: Ctx) -> Response:
    with ctx.core.lock:
        deployment = _deployment(ctx)
        newest_first = list(reversed(deployment.statuses))
        return paged_response(ctx, [status_json(ctx.core, deployment, s) for s in newest_first])


@router.route("GET", D + "/<id>/statuses/<status_id>")
def get_status(ctx: Ctx) -> Response:
    with ctx.core.lock:
        deployment = _deployment(ctx)
        found = [s for s in deployment.statuses if str(s.id) == ctx.args["status_id"]]
        if not found:
            raise not_found()
        return json_response(status_json(ctx.core, deployment, found[0]))
