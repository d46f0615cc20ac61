"""Tokens, the failure budget they share with the login form, and login sessions."""

from __future__ import annotations

import pytest
from flask import Flask
from pydantic import SecretStr

from gitops_bot.web.auth import bearer_matches, token_matches
from helpers import ADMIN_TOKEN


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
