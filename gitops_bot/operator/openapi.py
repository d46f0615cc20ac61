"""GET /openapi.json: an OpenAPI 3.1 document generated from the same pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from gitops_bot.intake.events import EVENT_MODELS
from gitops_bot.operator import tenantlist

bp = Blueprint("openapi", __name__)


class Accepted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    status: Literal["accepted"]
    status_url: str = Field(alias="statusUrl")


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: a message, and the field or header it is about."""

    error: str
    field: str | None = None
    errors: list[FieldError] | None = None


class Transition(BaseModel):
    status: str
    at: float = Field(description="Unix time")
    event_id: str | None = None
    commit_sha: str | None = None
    url: str | None = None
    reason: str | None = None


class DnsRecord(BaseModel):
    """Either record proves control of the domain: a TXT, or a CNAME to the tenant's name."""

    txt_name: str = Field(alias="txtName")
    txt_value: str = Field(alias="txtValue")
    cname_name: str = Field(alias="cnameName")
    cname_target: str = Field(alias="cnameTarget")


class DomainStatus(BaseModel):
    domain: str
    state: Literal["pending", "verified", "expired"]
    attempts: int
    last_error: str | None = Field(default=None, alias="lastError")
    record: DnsRecord


class Stages(BaseModel):
    """Seconds per stage, each named after the status that ends it; null when not seen."""

    committed: float | None = Field(
        description="accepted to committed (merged, for a reviewed plan)"
    )
    deploying: float | None = Field(description="committed to the start of a deploy")
    deployed: float | None = Field(description="the deploy's start to its success")
    live: float | None = Field(description="the deploy's success to the URL answering")


class Timeline(BaseModel):
    """How long the latest signup took, stage by stage; each counts its first pass only."""

    stages: Stages
    signup_to_live: float | None = Field(
        alias="signupToLive", description="Seconds from accepted to live; null until live"
    )


class TenantStatus(BaseModel):
    slug: str
    status: str
    transitions: list[Transition]
    domains: list[DomainStatus] = Field(
        default=[], description="Custom domains and their DNS ownership checks"
    )
    timeline: Timeline


class Health(BaseModel):
    status: Literal["ok"]


class Moved(BaseModel):
    slug: str
    status: str


class GitHubAnswer(BaseModel):
    """The answer to a GitHub delivery; GitHub shows it in the webhook's delivery log."""

    status: Literal["processed", "ignored", "duplicate"]
    event: str | None = None
    delivery: str | None = None
    note: str | None = None
    moved: list[Moved] | None = None


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(model)}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Body is not JSON",
        401: "Missing, malformed or wrong signature (the field names the header)",
        404: "No such tenant (for GET: or not authorised, indistinguishable on purpose)",
        409: "Slug or domain taken",
        413: "Body too large",
        415: "Content-Type is not application/json",
        422: "Invalid event; the field names the first invalid one",
        429: "A wrong token while too many have failed, from anyone; see Retry-After "
        "(the right token still works)",
        503: "Queue full, every host full, or state repo not read yet; see Retry-After",
    }
    return {str(code): _json(ErrorBody, reasons[code]) for code in codes}


def _operator_only(summary: str, operation_id: str, media_type: str) -> dict[str, Any]:
    """A GET for operators: the admin token as a bearer credential (or the login session)."""
    return {
        "summary": summary,
        "operationId": operation_id,
        "security": [{"bearer": []}],
        "responses": {
            "200": {
                "description": summary,
                "content": {media_type: {"schema": {"type": "string"}}},
            },
            "401": {
                "description": "The admin token is required; browsers get the login form",
                "content": {
                    "application/json": {"schema": _ref(ErrorBody)},
                    "text/html": {"schema": {"type": "string"}},
                },
            },
            **_errors(429),
        },
    }


def _admin_page() -> dict[str, Any]:
    operation = _operator_only("The operator view", "adminOverview", "text/html")
    operation["responses"]["400"] = {
        "description": "A query parameter the page cannot use; `field` names it",
        "content": {
            "application/json": {"schema": _ref(ErrorBody)},
            "text/html": {"schema": {"type": "string"}},
        },
    }
    name = {"type": "string", "pattern": f"^({tenantlist.NAME_PATTERN})?$"}
    slug_part = {"type": "string", "pattern": f"^{tenantlist.SLUG_PART_PATTERN}$"}
    sorts = [key for key, _label in tenantlist.SORT_LABELS]
    filters: dict[str, tuple[str, dict[str, Any]]] = {
        "state": ("Only tenants in this state", {"enum": ["", *tenantlist.STATES]}),
        "plan": ("Only tenants on this plan", name),
        "host": ("Only tenants on this host", name),
        "prefix": ("Slugs starting with this", slug_part),
        "q": ("Slugs containing this", slug_part),
        "sort": (
            "slug, plan, host, state, changed or age; a leading '-' reverses",
            {"enum": ["", *sorts]},
        ),
        "page": (
            "Page number, from 1",
            {"type": "integer", "minimum": 1, "maximum": tenantlist.MAX_PAGE},
        ),
        "per_page": (
            f"Rows per page (default {tenantlist.DEFAULT_PER_PAGE})",
            {"type": "integer", "minimum": 1, "maximum": tenantlist.MAX_PER_PAGE},
        ),
    }
    operation["parameters"] = [
        {"name": key, "in": "query", "description": text, "schema": schema}
        for key, (text, schema) in filters.items()
    ]
    return operation


def _signature_headers() -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ]


def _github_webhook() -> dict[str, Any]:
    headers = {
        "X-Hub-Signature-256": "sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>",
        "X-GitHub-Event": "ping, pull_request, pull_request_review, issue_comment, "
        "workflow_run, deployment_status; others are acknowledged and ignored",
        "X-GitHub-Delivery": "the delivery's GUID; a redelivery is answered 'duplicate'",
    }
    return {
        "summary": "Receive a GitHub webhook delivery (reviews and deploys of tenants)",
        "operationId": "receiveGitHubEvent",
        "parameters": [
            {
                "name": name,
                "in": "header",
                "required": True,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in headers.items()
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {
            "200": _json(GitHubAnswer, "Handled, ignored, or already handled"),
            **_errors(413, 415),
            "400": _json(ErrorBody, "Missing header, not JSON, or a payload field is missing"),
            "401": _json(ErrorBody, "Missing, malformed or wrong X-Hub-Signature-256"),
            "404": _json(ErrorBody, "No GitHub webhook secret is configured"),
        },
    }


def document() -> dict[str, Any]:
    events = list(EVENT_MODELS.values())
    models: list[type[BaseModel]] = [
        *events,
        Accepted,
        ErrorBody,
        TenantStatus,
        Health,
        GitHubAnswer,
    ]
    _, schemas = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "gitops-bot", "version": "1"},
        "paths": {
            "/v1/events": {
                "post": {
                    "summary": "Deliver a signed event (Standard Webhooks)",
                    "operationId": "receiveEvent",
                    "parameters": _signature_headers(),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"oneOf": [_ref(m) for m in events]}}
                        },
                    },
                    "responses": {
                        "202": _json(Accepted, "Stored durably; it will be committed"),
                        **_errors(400, 401, 404, 409, 413, 415, 422, 503),
                    },
                }
            },
            "/v1/tenants/{slug}": {
                "get": {
                    "summary": "Where a tenant stands",
                    "operationId": "tenantStatus",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "slug",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(TenantStatus, "The tenant's transitions and timeline"),
                        **_errors(404, 429),
                    },
                }
            },
            "/webhooks/github": {"post": _github_webhook()},
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "operationId": "health",
                    "responses": {"200": _json(Health, "The bot answers")},
                }
            },
            "/admin": {"get": _admin_page()},
            "/metrics": {
                "get": _operator_only("Prometheus metrics", "metrics", "text/plain"),
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: the writer has read the state repo",
                    "operationId": "ready",
                    "responses": {"200": _json(Health, "Intake can decide"), **_errors(503)},
                }
            },
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
