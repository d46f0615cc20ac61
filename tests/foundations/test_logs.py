"""JSON log lines: their fields, the event context, and secrets that never get through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from gitops_bot import logs
from gitops_bot.config import Settings
from helpers import ADMIN_TOKEN, SECRET, STATUS_TOKEN, post_event, signup


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the JSON handler writes, with the root logger as `gitops-bot` configures it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logs.clear()
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_its_context(captured: io.StringIO) -> None:
    log = logging.getLogger("gitops_bot.test")
    log.info("plain")
    with logs.bound(event_id="msg_1", slug="acme"):
        log.warning("about %s", "acme")
        log.info("explicit", extra={"slug": "other", "delivery_id": "tst_7"})
    first, second, third = lines(captured)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["logger"] == "gitops_bot.test"
    assert second == {
        **second,
        "level": "WARNING",
        "message": "about acme",
        "event_id": "msg_1",
        "slug": "acme",
    }
    assert (third["event_id"], third["slug"], third["delivery_id"]) == ("msg_1", "other", "tst_7")


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="secret"), logs.bound(secret="x"):
        pass


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("{'Authorization': 'token abcdef123456'}", "abcdef123456"),
        ('"authorization"="Basic dXNlcjpwYXNz"', "dXNlcjpwYXNz"),
        ("sent bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw here", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("token ghs_16C7e42F292c6912E7710c838347Ae178B4a", "16C7e42F292c6912E7710c838347Ae178B4a"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnop"),
        ("github_pat_11ABCDEFG0_abcdefghijklmnop", "abcdefghijklmnop"),
        ("push to https://x-access-token:s3cr3tvalue@github.com/o/r", "s3cr3tvalue"),
    ],
)
def test_credential_shapes_are_redacted(text: str, hidden: str) -> None:
    assert hidden not in logs.redact(text)
    assert "[redacted]" in logs.redact(text)


def test_settings_secrets_are_redacted_wherever_they_appear(
    captured: io.StringIO, settings: Settings
) -> None:
    logs.protect(settings.require_secrets().secret_values())
    key_only = SECRET.removeprefix("whsec_")
    log = logging.getLogger("gitops_bot.test")
    log.info("tokens %s and %s", STATUS_TOKEN, ADMIN_TOKEN)
    problem = RuntimeError(f"library said: bad key {key_only}")
    log.error("failed", exc_info=(RuntimeError, problem, None))
    output = captured.getvalue()
    for secret in (STATUS_TOKEN, ADMIN_TOKEN, key_only):
        assert secret not in output
    assert output.count("[redacted]") == 3
    assert "RuntimeError: library said" in lines(captured)[1]["exception"]


def test_request_lines_carry_event_id_and_slug(client: FlaskClient, captured: io.StringIO) -> None:
    assert post_event(client, signup("logged"), event_id="msg_logged").status_code == 202
    answered = [line for line in lines(captured) if "answered" in line["message"]]
    assert answered == [{**answered[0], "event_id": "msg_logged", "slug": "logged"}]
    # The next request on this thread starts clean.
    client.get("/healthz")
    logging.getLogger("gitops_bot.test").info("after")
    assert "event_id" not in lines(captured)[-1]
