"""POST /v1/events: every way a request can be unsigned, malformed or invalid, and replay."""

from __future__ import annotations

import base64
import io
import json
import time
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from gitops_bot.intake.webhooks import Unauthorized, verify_signature
from gitops_bot.store.queue import Store
from helpers import SECRET, change, post_event, sign, signed_headers, signup


def pending(store: Store) -> int:
    return store.pending_count()


def test_signature_from_an_independent_implementation_is_accepted(client: FlaskClient) -> None:
    response = post_event(client, signup("acme-corp"))
    assert response.status_code == 202
    assert response.json["slug"] == "acme-corp"
    assert response.json["status"] == "accepted"
    assert response.json["statusUrl"].endswith("/v1/tenants/acme-corp")


def test_signature_from_the_reference_library_is_accepted(client: FlaskClient) -> None:
    body = json.dumps(signup("ref-lib")).encode()
    now = int(time.time())
    signature = Webhook(SECRET).sign("msg_ref", datetime.fromtimestamp(now, UTC), body.decode())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_ref",
        "webhook-timestamp": str(now),
        "webhook-signature": signature,
    }
    assert client.post("/v1/events", data=body, headers=headers).status_code == 202


def test_spec_test_vector() -> None:
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    with pytest.raises(Unauthorized, match="too old"):
        verify_signature(secret, body, headers)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert (
        sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, key) == headers["webhook-signature"]
    )


BAD_HEADERS = [
    ({"webhook-id": None}, "webhook-id", "missing"),
    ({"webhook-timestamp": None}, "webhook-timestamp", "missing"),
    ({"webhook-signature": None}, "webhook-signature", "missing"),
    ({"webhook-id": "msg with spaces"}, "webhook-id", "malformed"),
    ({"webhook-id": "x" * 200}, "webhook-id", "malformed"),
    ({"webhook-timestamp": "yesterday"}, "webhook-timestamp", "malformed"),
    ({"webhook-timestamp": "1.7e9"}, "webhook-timestamp", "malformed"),
    ({"webhook-timestamp": "nan"}, "webhook-timestamp", "malformed"),
    ({"webhook-timestamp": "-5"}, "webhook-timestamp", "malformed"),
    ({"webhook-timestamp": "99999999999"}, "webhook-timestamp", "future"),
    ({"webhook-timestamp": "1000000000"}, "webhook-timestamp", "too old"),
    ({"webhook-signature": "v1"}, "webhook-signature", "malformed"),
    ({"webhook-signature": "v1,"}, "webhook-signature", "malformed"),
    ({"webhook-signature": "v1,not base64!"}, "webhook-signature", "malformed"),
    ({"webhook-signature": ",abc="}, "webhook-signature", "malformed"),
    ({"webhook-signature": "v1,a,b"}, "webhook-signature", "malformed"),
    ({"webhook-signature": "v1,abc"}, "webhook-signature", "malformed"),
    ({"webhook-signature": "v1,YWJj"}, "webhook-signature", "does not match"),
    ({"webhook-signature": "v2,YWJjZA=="}, "webhook-signature", "does not match"),
    ({"webhook-signature": "v1,YWJjZA==  v1,YWJjZA=="}, "webhook-signature", "malformed"),
]


@pytest.mark.parametrize(("change", "field", "reason"), BAD_HEADERS)
def test_bad_signature_headers_get_401_naming_the_header(
    client: FlaskClient, store: Store, change: dict[str, str | None], field: str, reason: str
) -> None:
    body = json.dumps(signup()).encode()
    headers = signed_headers(body)
    for key, value in change.items():
        if value is None:
            del headers[key]
        else:
            headers[key] = value
    response = client.post("/v1/events", data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["field"] == field
    assert reason in response.json["error"]
    assert pending(store) == 0


def test_truncated_signature_is_refused(client: FlaskClient) -> None:
    body = json.dumps(signup()).encode()
    headers = signed_headers(body)
    headers["webhook-signature"] = headers["webhook-signature"][:-8]
    assert client.post("/v1/events", data=body, headers=headers).status_code == 401


def test_wrong_secret_is_refused(client: FlaskClient) -> None:
    body = json.dumps(signup()).encode()
    headers = signed_headers(body)
    now = int(headers["webhook-timestamp"])
    headers["webhook-signature"] = sign(headers["webhook-id"], now, body, b"another secret")
    response = client.post("/v1/events", data=body, headers=headers)
    assert response.status_code == 401
    assert "does not match" in response.json["error"]


def test_valid_signature_over_another_body_is_refused(client: FlaskClient, store: Store) -> None:
    body = json.dumps(signup("honest")).encode()
    headers = signed_headers(body)
    forged = json.dumps(signup("forged")).encode()
    assert client.post("/v1/events", data=forged, headers=headers).status_code == 401
    assert pending(store) == 0


def test_one_matching_signature_among_several_is_enough(client: FlaskClient) -> None:
    # Secret rotation: senders sign with old and new secrets side by side.
    body = json.dumps(signup("rotating")).encode()
    headers = signed_headers(body)
    headers["webhook-signature"] = "v1,YWJjZA== " + headers["webhook-signature"]
    assert client.post("/v1/events", data=body, headers=headers).status_code == 202


def test_non_utf8_body_is_401_not_500(client: FlaskClient) -> None:
    body = b'{"type": "tenant.signup", "data": "\xff\xfe"}'
    response = client.post("/v1/events", data=body, headers=signed_headers(body))
    assert response.status_code == 401
    assert response.json["field"] == "body"


def test_body_over_the_limit_is_413(client: FlaskClient, store: Store) -> None:
    body = json.dumps({**signup(), "padding": "x" * 70_000}).encode()
    response = client.post("/v1/events", data=body, headers=signed_headers(body))
    assert response.status_code == 413
    assert response.is_json
    assert pending(store) == 0


def test_body_without_length_over_the_limit_is_413(client: FlaskClient) -> None:
    # What a server hands the app for a chunked request: no Content-Length, a terminated stream.
    body = b"[" + b"1," * 40_000 + b"1]"
    response = client.post(
        "/v1/events",
        input_stream=io.BytesIO(body),
        headers=signed_headers(body),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonp"]
)
def test_non_json_content_type_is_415(client: FlaskClient, content_type: str) -> None:
    body = json.dumps(signup()).encode()
    headers = {**signed_headers(body), "Content-Type": content_type}
    response = client.post("/v1/events", data=body, headers=headers)
    assert response.status_code == 415
    assert response.json["field"] == "Content-Type"


def test_json_with_charset_is_fine(client: FlaskClient) -> None:
    body = json.dumps(signup("charset")).encode()
    headers = {**signed_headers(body), "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/v1/events", data=body, headers=headers).status_code == 202


def test_signed_garbage_is_400(client: FlaskClient) -> None:
    body = b"{not json"
    response = client.post("/v1/events", data=body, headers=signed_headers(body))
    assert response.status_code == 400
    assert "JSON" in response.json["error"]


@pytest.mark.parametrize("levels", [100, 32_000])
def test_signed_deeply_nested_body_is_400_naming_the_body(
    client: FlaskClient, store: Store, levels: int
) -> None:
    # 32,000 levels is a 64 KB body, and deeper than any stack: it was a 500.
    for body in (
        ("[" * levels + "]" * levels).encode(),
        json.dumps({**signup("deep"), "extra": "X"})
        .replace('"X"', "[" * levels + "]" * levels)
        .encode(),
    ):
        response = client.post("/v1/events", data=body, headers=signed_headers(body))
        assert (response.status_code, response.json["field"]) == (400, "body")
        assert "nested" in response.json["error"]
    assert pending(store) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([1, 2], "body"),
        ({"data": {}}, "type"),
        ({"type": "tenant.explode", "data": {}}, "type"),
        ({"type": 7, "data": {}}, "type"),
        (signup("ab"), "data.slug"),
        (signup("Bad_Slug"), "data.slug"),
        (signup("xn--abc"), "data.slug"),
        (signup("a;rm -rf /"), "data.slug"),
        (signup("../../etc"), "data.slug"),
        (signup("${builtins}"), "data.slug"),
        (signup("acme", plan="Gold Plan"), "data.plan"),
        (signup("acme", domain="not a domain"), "data.domain"),
        (signup("acme", domain="evil.example\nlocation / {"), "data.domain"),
        (signup("acme", customerRef="ceo@acme.example"), "data.customerRef"),
        (signup("acme", email="ceo@acme.example"), "data.email"),
        # Python's names for camelCase fields are not part of the API.
        (signup("acme", customer_ref="cus_1"), "data.customer_ref"),
        (signup(None), "data"),
        ({**signup(), "extra": 1}, "extra"),
        ({"type": "tenant.signup", "data": {"slug": "x-ok", "plan": "pro"}}, "timestamp"),
        # The document promises an RFC 3339 date-time with an offset; nothing laxer passes.
        ({**signup("x-ok"), "timestamp": 1_700_000_000}, "timestamp"),
        ({**signup("x-ok"), "timestamp": "1700000000"}, "timestamp"),
        ({**signup("x-ok"), "timestamp": "2026-11-24"}, "timestamp"),
        ({**signup("x-ok"), "timestamp": "2026-11-24T12:00:00"}, "timestamp"),
    ],
)
def test_invalid_events_get_422_naming_the_field(
    client: FlaskClient, store: Store, payload: object, field: str
) -> None:
    response = post_event(client, payload)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field
    assert pending(store) == 0


# What the attacker's pass sent: a break that str.splitlines() sees and git does not, then
# trailers that `history` would have believed.
FORGED_TRAILERS = "Gitops-Event: msg_forged{0}Approved: ops-lead"
UNPRINTABLE = [
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\u0085",  # NEL, a C1 control
    "\u009b",  # CSI, a C1 control
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u200b",  # ZERO WIDTH SPACE
    "\ufeff",  # BYTE ORDER MARK
    "\x7f",
]


@pytest.mark.parametrize("char", UNPRINTABLE)
@pytest.mark.parametrize(
    "kind", ["tenant.suspend", "tenant.resume", "tenant.update", "tenant.delete"]
)
def test_a_reason_must_be_printable_text(
    client: FlaskClient, store: Store, kind: str, char: str
) -> None:
    reason = f"unpaid{char}{FORGED_TRAILERS.format(char)}"
    response = post_event(client, change(kind, "acme", reason=reason, plan="free"))
    assert (response.status_code, response.json["field"]) == (422, "data.reason")
    assert f"U+{ord(char):04X}" in response.json["error"]
    assert pending(store) == 0


@pytest.mark.parametrize("char", UNPRINTABLE)
def test_an_organization_must_be_printable_text(
    client: FlaskClient, store: Store, char: str
) -> None:
    response = post_event(client, signup(None, organization=f"Acme{char}Corp"))
    assert (response.status_code, response.json["field"]) == (422, "data.organization")
    assert pending(store) == 0


@pytest.mark.parametrize(
    "organization",
    [
        "alice.smith@gmail.com",
        "Alice Smith <alice@example.org>",
        "alice @ gmail.com",
        "alice at gmail dot com",
        "alice(at)gmail(dot)com",
        "Alice [AT] example [DOT] org",
    ],
)
def test_an_organization_that_looks_like_an_email_is_refused(
    client: FlaskClient, store: Store, organization: str
) -> None:
    # The slug derived from it is what lands in git: alice-smith-gmail-com, forever.
    response = post_event(client, signup(None, organization=organization))
    assert (response.status_code, response.json["field"]) == (422, "data.organization")
    assert "email" in response.json["error"]
    assert pending(store) == 0


@pytest.mark.parametrize(
    "organization", ["Café Müller GmbH", "Smith & Sons @ Home", "AT&T", "Dot Com Ltd."]
)
def test_an_organization_in_words_is_still_a_slug(client: FlaskClient, organization: str) -> None:
    assert post_event(client, signup(None, organization=organization)).status_code == 202


def test_unknown_type_is_named(client: FlaskClient) -> None:
    response = post_event(client, {"type": "tenant.explode", "data": {}})
    assert "tenant.explode" in response.json["error"]


def test_uppercase_ascii_is_lowered_but_confusables_are_not(client: FlaskClient) -> None:
    assert post_event(client, signup("Mixed-Case")).json["slug"] == "mixed-case"
    kelvin = post_event(client, signup("\u212aelvin"))
    assert kelvin.status_code == 422
    assert kelvin.json["field"] == "data.slug"


def test_redelivery_gets_the_first_answer_and_no_second_tenant(
    client: FlaskClient, store: Store
) -> None:
    first = post_event(client, signup("replayed"), event_id="msg_replay")
    again = post_event(client, signup("replayed"), event_id="msg_replay")
    assert first.status_code == again.status_code == 202
    assert first.json == again.json
    assert pending(store) == 1


def test_replayed_id_with_another_body_gets_the_original_answer(
    client: FlaskClient, store: Store
) -> None:
    first = post_event(client, signup("original"), event_id="msg_same")
    other = post_event(client, signup("sneaky", plan="enterprise"), event_id="msg_same")
    assert other.json == first.json
    assert pending(store) == 1
    assert not store.slug_taken("sneaky")


def test_conflict_answers_are_replayed_too(client: FlaskClient) -> None:
    post_event(client, signup("taken-one"))
    first = post_event(client, signup("taken-one"), event_id="msg_conflict")
    again = post_event(client, signup("taken-one"), event_id="msg_conflict")
    assert first.status_code == again.status_code == 409
    assert first.json == again.json


def test_get_is_405_in_json(client: FlaskClient) -> None:
    response = client.get("/v1/events")
    assert response.status_code == 405
    assert response.is_json
    # RFC 9110: a 405 must say which methods the resource does allow.
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
