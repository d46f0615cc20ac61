"""POST /webhooks/github: GitHub's signed events, verified, deduplicated and handed on."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from gitops_bot.github.events import GitHubEvents
from gitops_bot.github.records import GitHubRecords
from gitops_bot.intake.webhooks import Unauthorized
from gitops_bot.web.appcontext import settings, store
from gitops_bot.web.jsonbody import BodyError, parse_json

bp = Blueprint("github_webhooks", __name__)

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_SIGNATURE: Final = re.compile(r"sha256=[0-9a-f]{64}")
_EVENT: Final = re.compile(r"[a-z_]{1,64}")
_DELIVERY: Final = re.compile(r"[A-Za-z0-9-]{1,64}")


def verify_github_signature(secret: str, body: bytes, header: str | None) -> None:
    """Nothing when `header` is GitHub's HMAC-SHA256 of the raw body; Unauthorized otherwise."""
    if not header:
        raise Unauthorized(SIGNATURE_HEADER, "header is missing")
    if not _SIGNATURE.fullmatch(header):
        raise Unauthorized(SIGNATURE_HEADER, "header is malformed: expected 'sha256=<hex>'")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, header):
        raise Unauthorized(SIGNATURE_HEADER, "does not match the body")


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _answer(status: int, body: dict[str, object]) -> tuple[Response, int]:
    return jsonify(body), status


@bp.post("/webhooks/github")
def receive_github_event() -> tuple[Response, int]:
    try:
        event, delivery, payload = _verified_event()
    except _Refused as refused:
        return _answer(refused.status, {"error": refused.message, "field": refused.field})
    return _handle(event, delivery, payload)


def _verified_event() -> tuple[str, str, dict[str, object]]:
    """The event name, delivery id and payload of a request GitHub signed, or _Refused.

    The signature is checked first, so that nobody without the secret learns anything
    from the other answers.
    """
    secret = settings().github_webhook_secret
    if secret is None:
        message = "the GitHub webhook is not configured: set GITOPS_BOT_GITHUB_WEBHOOK_SECRET_FILE"
        raise _Refused(404, message, SIGNATURE_HEADER)
    # GitHub's payloads run to megabytes; the signup limit is for signups.
    request.max_content_length = settings().github_webhook_max_bytes
    body = request.get_data(cache=False)
    signature = request.headers.get(SIGNATURE_HEADER)
    try:
        verify_github_signature(secret.get_secret_value(), body, signature)
    except Unauthorized as problem:
        raise _Refused(401, str(problem), problem.part) from None
    headers = (("X-GitHub-Event", _EVENT), ("X-GitHub-Delivery", _DELIVERY))
    event, delivery = (request.headers.get(name, "") for name, _ in headers)
    for (name, grammar), value in zip(headers, (event, delivery), strict=True):
        if not grammar.fullmatch(value):
            raise _Refused(400, f"{name} header is missing or malformed", name)
    if request.mimetype != "application/json":
        raise _Refused(415, "set the webhook's content type to application/json", "Content-Type")
    try:
        payload = parse_json(body)
    except BodyError as problem:
        raise _Refused(400, str(problem), "body") from None
    if not isinstance(payload, dict):
        raise _Refused(400, "body must be a JSON object", "body")
    return event, delivery, payload


def _handle(event: str, delivery: str, payload: dict[str, object]) -> tuple[Response, int]:
    """Handle a delivery once: its record and its transitions commit together or not at all."""
    queue = store()
    try:
        with queue.transaction():
            if not GitHubRecords(queue).first_delivery(delivery, event):
                return _answer(200, {"status": "duplicate", "delivery": delivery})
            outcome = GitHubEvents(queue, settings()).handle(event, payload)
    except ValidationError as invalid:
        first = invalid.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        return _answer(400, {"error": f"{event} payload: {field}: {first['msg']}", "field": field})
    current_app.logger.info("GitHub %s %s: %s", event, delivery, outcome.note)
    status = "ignored" if outcome.ignored else "processed"
    return _answer(
        200, {"status": status, "event": event, "note": outcome.note, "moved": outcome.moved}
    )
