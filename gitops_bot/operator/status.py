"""GET /v1/tenants/<slug>: where a signup stands, for the landing page's backend only."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from gitops_bot.contract.timeline import timeline
from gitops_bot.store import domainchecks
from gitops_bot.web.appcontext import settings, store
from gitops_bot.web.auth import bearer_allows

bp = Blueprint("status", __name__)


@bp.get("/v1/tenants/<slug>")
def tenant_status(slug: str) -> Response | tuple[Response, int]:
    # Unknown and unauthorised look the same, so nobody learns which slugs exist.
    transitions = store().transitions(slug) if bearer_allows(settings().status_token) else []
    if not transitions:
        return jsonify({"error": "no such tenant", "field": "slug"}), 404
    domains = [check.as_json() for check in domainchecks.for_slug(store().connection, slug)]
    return jsonify(
        {
            "slug": slug,
            "status": transitions[-1]["status"],
            "transitions": transitions,
            "domains": domains,
            "timeline": timeline(transitions).as_json(),
        }
    )
