"""Suite 6, authentication: nothing but a correctly signed, fresh request gets in.

Wrong secrets, missing headers, stale and future timestamps, malformed and truncated
signatures, a valid signature over another body, and replayed webhook-ids with
another body: each gets a 401 (or, for a replay, the id's original answer), never a
second tenant and never a 500. The same for GitHub's X-Hub-Signature-256 on
POST /webhooks/github, where a replayed delivery id hears "duplicate". test_webhooks.py
and test_github_webhooks.py pin each answer's wording; this suite sweeps the space
around a valid request, concurrently and over real HTTP too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gitops_bot.store.queue import Store
from helpers import (
    SECRET_BYTES,
    Server,
    change,
    github_signature,
    post_event,
    sign,
    signed_headers,
    signup,
    tenant_files,
)
from hygiene import assert_history_clean
from reliability import record_figures, soak_scale
from served import Sender

NOW_SKEW = 300  # the spec's tolerance


def post_raw(client: FlaskClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/v1/events", data=body, headers=headers)


# --- the space around one valid request -------------------------------------------------

MUTATIONS = st.sampled_from(
    ["id", "timestamp", "signature", "body", "secret", "drop", "signed-other-id", "signed-other-ts"]
)


@given(
    how=MUTATIONS,
    text=st.text(max_size=40) | st.from_regex(r"v1,[A-Za-z0-9+/]{0,50}={0,2}", fullmatch=True),
    shift=st.integers(-(10**10), 10**10),
    cut=st.integers(0, 60),
)
@settings(
    max_examples=300 * soak_scale(), suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_change_to_a_signed_request_is_401_and_lets_nothing_in(
    client: FlaskClient, store: Store, how: str, text: str, shift: int, cut: int
) -> None:
    before = store.pending_count()  # the fixtures live across examples
    body = json.dumps(signup("never-created")).encode()
    headers = signed_headers(body)
    event_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    if how == "id":
        headers["webhook-id"] = text or "x"
    elif how == "timestamp":
        headers["webhook-timestamp"] = str(timestamp + shift) if shift else text
    elif how == "signature":
        headers["webhook-signature"] = headers["webhook-signature"][:cut] + text
    elif how == "body":
        body = body[:cut] + text.encode() + body[cut + 1 :]
    elif how == "secret":
        headers["webhook-signature"] = sign(event_id, timestamp, body, text.encode() or b"x")
    elif how == "drop":
        del headers[("webhook-id", "webhook-timestamp", "webhook-signature")[cut % 3]]
    elif how == "signed-other-id":
        headers["webhook-signature"] = sign(f"{event_id}x", timestamp, body)
    else:
        headers["webhook-signature"] = sign(event_id, timestamp + 1, body)
    unchanged = headers == signed_headers(body, event_id, timestamp) and b"never-created" in body
    stale = how == "timestamp" and shift and abs(shift) > NOW_SKEW
    # What HTTP can carry at all: a server refuses the rest before any app sees it.
    assume(all(value.isascii() and value.isprintable() for value in headers.values()))
    answer = post_raw(client, body, headers)
    event(f"{how}: {answer.status_code}")
    if unchanged and not stale:
        return  # the mutation changed nothing (an empty cut and suffix, say)
    assert answer.status_code == 401, (how, answer.json)
    assert answer.json["field"] in {"webhook-id", "webhook-timestamp", "webhook-signature", "body"}
    assert store.pending_count() == before


def test_every_truncation_of_a_signature_is_refused(client: FlaskClient, store: Store) -> None:
    body = json.dumps(signup("truncated")).encode()
    headers = signed_headers(body)
    signature = headers["webhook-signature"]
    answers = {
        post_raw(client, body, {**headers, "webhook-signature": signature[:n]}).status_code
        for n in range(len(signature))
    }
    assert answers == {401}
    assert store.pending_count() == 0


@pytest.mark.parametrize(
    "signature",
    [
        # the right digest, spelled in ways the spec does not allow
        lambda digest: "v1," + digest.hex(),
        lambda digest: "v1," + base64.urlsafe_b64encode(digest).decode().rstrip("="),
        lambda digest: "V1," + base64.b64encode(digest).decode(),
        lambda digest: "v1=" + base64.b64encode(digest).decode(),
        lambda digest: "v1, " + base64.b64encode(digest).decode(),
        lambda digest: "v1," + base64.b64encode(digest[:16]).decode(),
        lambda digest: "sha256=" + digest.hex(),
        # the right digest of the wrong thing
        lambda _: "v1," + base64.b64encode(hashlib.sha256(b"body").digest()).decode(),
    ],
)
def test_misspelled_signatures_are_401(client: FlaskClient, store: Store, signature: Any) -> None:
    body = json.dumps(signup("misspelled")).encode()
    headers = signed_headers(body)
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = hmac.new(SECRET_BYTES, signed, hashlib.sha256).digest()
    answer = post_raw(client, body, {**headers, "webhook-signature": signature(digest)})
    assert answer.status_code == 401
    assert store.pending_count() == 0


@pytest.mark.parametrize("skew", [-NOW_SKEW - 1, -3600, -(10**9), NOW_SKEW + 1, 10**6])
def test_stale_and_future_timestamps_are_401_even_when_signed(
    client: FlaskClient, store: Store, skew: int
) -> None:
    body = json.dumps(signup("timely")).encode()
    answer = post_raw(client, body, signed_headers(body, timestamp=int(time.time()) + skew))
    assert answer.status_code == 401
    assert answer.json["field"] == "webhook-timestamp"
    assert store.pending_count() == 0


# --- replays ----------------------------------------------------------------------------


def test_an_unsigned_request_cannot_claim_an_id_before_its_sender(
    client: FlaskClient, store: Store
) -> None:
    """Refusals are not recorded: a forger's 401 does not poison the id for the sender."""
    forged = json.dumps(signup("forged")).encode()
    headers = signed_headers(forged, "msg_claimed")
    headers["webhook-signature"] = sign("msg_claimed", int(headers["webhook-timestamp"]), b"x")
    assert post_raw(client, forged, headers).status_code == 401
    real = post_event(client, signup("genuine"), event_id="msg_claimed")
    assert real.status_code == 202
    assert real.json["slug"] == "genuine"


@pytest.mark.parametrize(
    "first", [signup("first-one"), signup("acme"), change("tenant.suspend", "acme")]
)
def test_a_replayed_id_with_another_body_hears_the_original_answer(
    client: FlaskClient, store: Store, first: dict[str, Any]
) -> None:
    original = post_event(client, first, event_id="msg_replayed")
    before = store.pending_count()
    for other in (signup("second-one"), signup("first-one", plan="enterprise"), [1], b"{"):
        body = other if isinstance(other, bytes) else json.dumps(other).encode()
        again = post_raw(client, body, signed_headers(body, "msg_replayed"))
        assert (again.status_code, again.json) == (original.status_code, original.json)
    assert store.pending_count() == before
    assert not store.slug_taken("second-one")


@pytest.mark.slow
def test_one_id_with_twenty_bodies_at_once_over_http_makes_one_tenant(
    server: Server, tmp_path: Path
) -> None:
    bodies = [signup(f"contender-{n:02d}") for n in range(20)]

    def deliver(payload: dict[str, Any]) -> tuple[int, str]:
        sender = Sender(server.port)
        try:
            delivery = sender.post(payload, "msg_contended")
        finally:
            sender.close()
        return delivery.status, json.dumps(delivery.body, sort_keys=True)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = set(pool.map(deliver, bodies))
    assert len(answers) == 1
    status, body = answers.pop()
    assert status == 202
    winner = json.loads(body)["slug"]
    deadline = time.monotonic() + 120
    while winner not in (files := tenant_files(server.remote)) and time.monotonic() < deadline:
        time.sleep(0.2)
    contenders = {slug for slug in files if slug.startswith("contender-")}
    assert contenders == {winner}
    assert files[winner]["origin"] == "msg_contended"
    hygiene = assert_history_clean(server.remote)
    record_figures(
        "auth-replay",
        __file__,
        soak=False,
        concurrent_bodies_for_one_id=len(bodies),
        distinct_answers=1,
        tenants_created=len(contenders),
        history_commits_scanned=hygiene.commits,
    )


# --- what a web server sees before the app does -----------------------------------------

HEAD = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
SIGNED = b"webhook-id: a\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,YQ==\r\n"
RAW_REQUESTS = [
    # duplicated signature headers
    HEAD + SIGNED + b"webhook-signature: v1,Yg==\r\nContent-Length: 2\r\n\r\n{}",
    # a header over gunicorn's size limit
    HEAD + b"webhook-id: " + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    # bytes that are not ASCII in a header
    HEAD + b"webhook-id: \xc3\xa9\xff\r\n" + SIGNED[14:] + b"Content-Length: 2\r\n\r\n{}",
    # a POST without a body or a length
    HEAD + b"Connection: close\r\n\r\n",
    # a body shorter than its Content-Length
    HEAD + SIGNED + b"Content-Length: 5\r\n\r\n{}",
]


@pytest.mark.slow
@pytest.mark.parametrize("raw", RAW_REQUESTS)
def test_malformed_http_gets_a_4xx_from_gunicorn_or_the_app_never_a_5xx(
    server: Server, raw: bytes
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(raw)
        if raw.endswith(b"Content-Length: 5\r\n\r\n{}"):
            connection.shutdown(socket.SHUT_WR)  # the body ends early: a client that gave up
        status_line = connection.makefile("rb").readline()
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line


# --- GitHub's X-Hub-Signature-256 on POST /webhooks/github ----------------------------------


def post_github_raw(client: FlaskClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(
        "/webhooks/github", data=body, headers={"Content-Type": "application/json", **headers}
    )


def github_headers(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": github_signature(body),
    }


@given(
    how=st.sampled_from(["signature", "body", "secret", "drop", "uppercase", "sha1", "twice"]),
    text=st.text(max_size=40) | st.from_regex(r"[0-9a-f]{0,64}", fullmatch=True),
    cut=st.integers(0, 80),
)
@settings(
    max_examples=300 * soak_scale(), suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_change_to_a_github_delivery_is_401_and_handles_nothing(
    github_intake: FlaskClient, how: str, text: str, cut: int
) -> None:
    body = json.dumps({"zen": "Design for failure.", "hook_id": cut}).encode()
    delivery = f"guid-{uuid.uuid4()}"
    headers = github_headers(body, delivery)
    signature = headers["X-Hub-Signature-256"]
    if how == "signature":
        headers["X-Hub-Signature-256"] = signature[:cut] + text
    elif how == "body":
        body = body[:cut] + text.encode() + body[cut + 1 :]
    elif how == "secret":
        headers["X-Hub-Signature-256"] = github_signature(body, text or "x")
    elif how == "drop":
        del headers["X-Hub-Signature-256"]
    elif how == "uppercase":
        headers["X-Hub-Signature-256"] = "sha256=" + signature.removeprefix("sha256=").upper()
    elif how == "sha1":
        headers["X-Hub-Signature-256"] = "sha1=" + signature.removeprefix("sha256=")[:40]
    else:  # a second, wrong digest after the right one
        headers["X-Hub-Signature-256"] = f"{signature},sha256={'0' * 64}"
    assume(all(value.isascii() and value.isprintable() for value in headers.values()))
    answer = post_github_raw(github_intake, body, headers)
    unchanged = headers == github_headers(body, delivery)
    event(f"{how}: {answer.status_code}")
    if unchanged:
        return  # the mutation changed nothing (an empty cut and suffix, say)
    assert answer.status_code == 401, (how, answer.json)
    assert answer.json["field"] == "X-Hub-Signature-256"
    # Nothing was recorded: the genuine delivery with that id is still handled, once.
    genuine = b'{"zen": "genuine"}'
    assert (
        post_github_raw(github_intake, genuine, github_headers(genuine, delivery)).json["status"]
        == "processed"
    )


def test_every_truncation_of_a_github_signature_is_refused(github_intake: FlaskClient) -> None:
    body = b'{"zen": "Keep it logically awesome."}'
    headers = github_headers(body, "guid-truncated")
    signature = headers["X-Hub-Signature-256"]
    answers = {
        post_github_raw(
            github_intake, body, {**headers, "X-Hub-Signature-256": signature[:n]}
        ).status_code
        for n in range(len(signature))
    }
    assert answers == {401}


def test_a_github_signature_over_another_body_is_refused(github_intake: FlaskClient) -> None:
    honest = b'{"zen": "honest"}'
    forged = b'{"zen": "forged"}'
    answer = post_github_raw(github_intake, forged, github_headers(honest, "guid-forged"))
    assert answer.status_code == 401
    assert "does not match" in answer.json["error"]


def test_a_replayed_github_delivery_with_another_body_is_not_handled_again(
    github_intake: FlaskClient,
) -> None:
    first = b'{"zen": "first"}'
    assert (
        post_github_raw(github_intake, first, github_headers(first, "guid-replayed")).json["status"]
        == "processed"
    )
    other = b'{"zen": "a different body, correctly signed"}'
    again = post_github_raw(github_intake, other, github_headers(other, "guid-replayed"))
    assert (again.status_code, again.json["status"]) == (200, "duplicate")
