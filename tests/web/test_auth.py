"""Tokens, the failure budget they share with the login form, and login sessions."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from gitops_bot.store.queue import Store
from gitops_bot.web.auth import LOGIN_FAILURES, LOGIN_WINDOW, bearer_matches, token_matches
from helpers import ADMIN_TOKEN, STATUS_TOKEN, post_event, signup

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STATUS = {"Authorization": f"Bearer {STATUS_TOKEN}"}


@pytest.mark.parametrize(
    ("offered", "secret"),
    [("", ""), ("", ADMIN_TOKEN), (ADMIN_TOKEN, ""), (ADMIN_TOKEN, None), ("wrong", ADMIN_TOKEN)],
    ids=["both-empty", "empty-offered", "empty-secret", "no-secret", "wrong"],
)
def test_an_empty_or_wrong_token_never_matches(offered: str, secret: str | None) -> None:
    assert not token_matches(offered, None if secret is None else SecretStr(secret))


def test_an_empty_bearer_credential_never_matches_even_an_empty_secret() -> None:
    app = Flask(__name__)
    for header in ("Bearer ", "Bearer", "bearer  "):
        with app.test_request_context(headers={"Authorization": header}):
            assert not bearer_matches(SecretStr(""))
            assert not bearer_matches(SecretStr(" "))
    with app.test_request_context(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}):
        assert bearer_matches(SecretStr(ADMIN_TOKEN))


def _failures(store: Store) -> int:
    return int(store.connection.execute("SELECT count(*) FROM login_failures").fetchone()[0])


def _spend_the_budget(client: FlaskClient, status_path: str) -> None:
    """LOGIN_FAILURES wrong bearer tokens, spread over every path that checks one."""
    paths = ["/admin", "/metrics", status_path]
    for n in range(LOGIN_FAILURES):
        answer = client.get(paths[n % 3], headers={"Authorization": f"Bearer guess-{n}"})
        assert answer.status_code == (404 if paths[n % 3] == status_path else 401)


def test_wrong_bearer_tokens_spend_the_login_forms_budget(
    client: FlaskClient, store: Store
) -> None:
    status_path = f"/v1/tenants/{post_event(client, signup('watched')).json['slug']}"
    _spend_the_budget(client, status_path)
    assert _failures(store) == LOGIN_FAILURES
    # The login form is locked by guesses at the other doors, and refuses the token unread.
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 429
    for path in ("/admin", "/metrics", status_path):
        for header in ("Bearer guess", "Bearer ", "Basic Z3Vlc3M6Z3Vlc3M="):
            refused = client.get(path, headers={"Authorization": header})
            assert refused.status_code == 429, (path, header)
            assert refused.json is not None
            assert refused.json["field"] == "Authorization"
            assert 0 < int(refused.headers["Retry-After"]) <= LOGIN_WINDOW
    # A spent budget takes no more writes: a flood of guesses is not a flood of fsyncs.
    assert _failures(store) == LOGIN_FAILURES


def test_guesses_at_the_login_form_count_against_bearer_tokens_too(
    client: FlaskClient, store: Store
) -> None:
    for _ in range(LOGIN_FAILURES):
        assert client.post("/admin/login", data={"token": "guess"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 429


def test_the_right_tokens_keep_working_while_the_budget_is_spent(
    client: FlaskClient, store: Store
) -> None:
    status_path = f"/v1/tenants/{post_event(client, signup('watched')).json['slug']}"
    _spend_the_budget(client, status_path)
    assert client.get("/admin", headers=ADMIN).status_code == 200
    assert client.get("/metrics", headers=ADMIN).status_code == 200
    status = client.get(status_path, headers=STATUS)
    assert status.status_code == 200
    assert status.json is not None
    assert status.json["status"] == "accepted"
    # Each token opens only its own door; the wrong one is still a refused guess.
    assert client.get("/metrics", headers=STATUS).status_code == 429
    assert _failures(store) == LOGIN_FAILURES


def test_requests_without_a_token_spend_nothing(client: FlaskClient, store: Store) -> None:
    for _ in range(2 * LOGIN_FAILURES):
        assert client.get("/admin").status_code == 401
        assert client.get("/v1/tenants/nobody").status_code == 404
    assert _failures(store) == 0
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 303
