"""POST /v1/events: Standard Webhooks verification, validation and intake of signed events."""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import time
from collections.abc import Mapping
from typing import Final

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gitops_bot import logs
from gitops_bot.intake.events import EVENT_MODELS, Event
from gitops_bot.intake.intake import Intake, error
from gitops_bot.store.queue import Answer
from gitops_bot.web.appcontext import counters, settings, store
from gitops_bot.web.jsonbody import BodyError, parse_json

bp = Blueprint("webhooks", __name__)

# The spec's tolerance, which the standardwebhooks library also enforces.
TIMESTAMP_TOLERANCE: Final = 300
_EVENT_ID: Final = re.compile(r"[A-Za-z0-9_.:=-]{1,128}")
_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")
# What a refusal is counted as in gitops_bot_intake_rejected_total.
REFUSAL_REASONS: Final = {
    400: "not_json",
    401: "signature",
    404: "unknown_tenant",
    409: "conflict",
    413: "too_large",
    415: "content_type",
    422: "invalid",
    503: "unavailable",
}
# "v1,<base64>" entries separated by spaces; other versions (v1a) are allowed and ignored.
_SIGNATURE: Final = re.compile(
    r"v[0-9a-z]{1,8},[A-Za-z0-9+/]{1,512}={0,2}(?: v[0-9a-z]{1,8},[A-Za-z0-9+/]{1,512}={0,2})*"
)


class Unauthorized(Exception):
    """The request is not signed by the landing page; `part` names the header or body at fault."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part} {problem}")
        self.part = part


def verify_signature(secret: str, body: bytes, headers: Mapping[str, str]) -> str:
    """The event id of a correctly signed request, or Unauthorized naming what is wrong.

    The headers are checked against the spec's grammar first, so that nothing a sender
    can put in them reaches the library in a shape it would choke on.
    """
    event_id = _header(headers, "webhook-id", _EVENT_ID, "header is malformed")
    timestamp = _header(
        headers, "webhook-timestamp", _TIMESTAMP, "header is malformed: expected Unix seconds"
    )
    signature = _header(
        headers, "webhook-signature", _SIGNATURE, "header is malformed: expected 'v1,<base64>'"
    )
    skew = int(timestamp) - time.time()
    if abs(skew) > TIMESTAMP_TOLERANCE:
        problem = "header is too old" if skew < 0 else "header is in the future"
        raise Unauthorized("webhook-timestamp", problem)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unauthorized("body", "is not UTF-8, so it cannot carry a valid signature") from None
    signed = {
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
    try:
        Webhook(secret).verify(text, signed, json_parse=False)
    except WebhookVerificationError:
        raise Unauthorized("webhook-signature", "does not match the body") from None
    except (ValueError, binascii.Error):
        raise Unauthorized("webhook-signature", "header is malformed") from None
    return event_id


def _header(headers: Mapping[str, str], name: str, grammar: re.Pattern[str], problem: str) -> str:
    value = headers.get(name)
    if not value:
        raise Unauthorized(name, "header is missing")
    if not grammar.fullmatch(value):
        raise Unauthorized(name, problem)
    return value


class Refused(Exception):
    """The request gets `answer` and goes no further."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.body.get("error"))
        self.answer = answer


def _respond(answer: Answer) -> Response:
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.status == 503:  # noqa: PLR2004
        response.headers["Retry-After"] = "30"
    return response


def _signed_body() -> tuple[str, bytes]:
    """The event id and raw body of a request signed with our secret, or Refused."""
    if request.mimetype != "application/json":
        raise Refused(error(415, "Content-Type must be application/json", field="Content-Type"))
    body = _bounded_body(settings().max_body_bytes)
    secret = settings().webhook_secret
    assert secret is not None  # noqa: S101 - create_app refuses to start without one
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        return verify_signature(secret.get_secret_value(), body, headers), body
    except Unauthorized as problem:
        raise Refused(error(401, str(problem), field=problem.part)) from None


def _bounded_body(limit: int) -> bytes:
    """The raw body, refused before reading when it declares a length over `limit`."""
    too_large = Refused(error(413, f"body is larger than {limit} bytes", field="body"))
    if request.content_length is not None:
        if request.content_length > limit:
            raise too_large
        return request.get_data(cache=False)
    if not request.environ.get("wsgi.input_terminated"):
        return b""  # no length and no end: nothing we may safely wait for
    # Chunked: the server de-chunks; read one byte past the limit to know it was passed.
    body: bytes = request.environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def parse_event(body: bytes) -> Event:
    """The event a verified body carries, or Refused with the field at fault."""
    try:
        payload = parse_json(body)
    except BodyError as problem:
        raise Refused(error(400, str(problem), field="body")) from None
    if not isinstance(payload, dict):
        raise Refused(error(422, "body must be a JSON object", field="body"))
    event_type = payload.get("type")
    model = EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        shown = json.dumps(event_type)[:80]
        known = ", ".join(sorted(EVENT_MODELS))
        raise Refused(error(422, f"unknown event type {shown} (one of: {known})", field="type"))
    try:
        return model.model_validate(payload)
    except ValidationError as invalid:
        raise Refused(validation_error(invalid)) from None


def _status_url(slug: str) -> str:
    if (base := settings().public_url) is not None:
        return f"{base.rstrip('/')}/v1/tenants/{slug}"
    return url_for("status.tenant_status", slug=slug, _external=True)


@bp.post("/v1/events")
def receive_event() -> Response:
    try:
        event_id, body = _signed_body()
        logs.bind(event_id=event_id)
        # A redelivery hears the first answer, whatever its body says now.
        if (previous := store().answer_for(event_id)) is not None:
            return _respond(previous)
        event = parse_event(body)
    except Refused as refused:
        _count_refusal(refused.answer)
        return _respond(refused.answer)
    intake = Intake(store=store(), settings=settings(), status_url=_status_url)
    answer = intake.accept(
        event_id=event_id, body_sha256=hashlib.sha256(body).hexdigest(), event=event
    )
    _count_refusal(answer)
    logs.bind(slug=answer.body.get("slug") or event.data.slug)
    current_app.logger.info("event %s (%s) answered %d", event_id, event.type, answer.status)
    return _respond(answer)


def _count_refusal(answer: Answer) -> None:
    # A redelivery hears the first answer again without being counted again.
    if answer.status >= 400:  # noqa: PLR2004
        counters().record_refusal(REFUSAL_REASONS.get(answer.status, str(answer.status)))


def validation_error(invalid: ValidationError) -> Answer:
    """A 422 listing every invalid field by its dotted path, the first one also as `field`."""
    errors = [
        {
            "field": ".".join(str(part) for part in problem["loc"]),
            "message": problem["msg"].removeprefix("Value error, "),
        }
        for problem in invalid.errors(include_url=False, include_input=False)
    ]
    first = errors[0]
    return Answer(
        422,
        {
            "error": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "errors": errors,
        },
    )
