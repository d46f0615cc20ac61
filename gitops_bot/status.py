"""GET /v1/tenants/<slug>: where a signup stands, for the landing page's backend only."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from gitops_bot.appcontext import settings, store

bp = Blueprint("status", __name__)


def _authorised() -> bool:
    token = settings().status_token
    offered = request.headers.get("Authorization", "")
    scheme, _, credential = offered.partition(" ")
    if token is None or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credential.encode(), token.get_secret_value().encode())


@bp.get("/v1/tenants/<slug>")
def tenant_status(slug: str) -> Response | tuple[Response, int]:
    # Unknown and unauthorised look the same, so nobody learns which slugs exist.
    transitions = store().transitions(slug) if _authorised() else []
    if not transitions:
        return jsonify({"error": "no such tenant", "field": "slug"}), 404
    return jsonify({"slug": slug, "status": transitions[-1]["status"], "transitions": transitions})
