"""Who a request is: the landing page (status token), or an operator (admin token or session)."""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import sqlite3
import time
from datetime import timedelta
from typing import Final

from flask import Flask, Response, jsonify, request, session
from pydantic import SecretStr
from werkzeug.exceptions import TooManyRequests

from gitops_bot.config import Settings
from gitops_bot.web.appcontext import settings, store

log = logging.getLogger(__name__)

# Long enough for a working day, short enough that a forgotten browser logs itself out;
# counted from the login, not from the last request.
SESSION_LIFETIME: Final = timedelta(hours=8)
# Failed logins and bearer tokens allowed per window, from anyone: a typo or two, never a
# guessing run.
LOGIN_FAILURES: Final = 10
LOGIN_WINDOW: Final = 300.0


class TooManyFailures(TooManyRequests):
    """A wrong bearer token while the failure budget is spent: 429 with Retry-After."""

    def __init__(self, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        super().__init__(f"too many failed tokens: try again in {seconds} s", retry_after=seconds)


def bearer_matches(secret: SecretStr | None) -> bool:
    """Whether the request's `Authorization: Bearer` credential is `secret`."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(credential, secret)


def token_matches(offered: str, secret: SecretStr | None) -> bool:
    """Whether `offered` is `secret`; never when either is blank, whatever the settings say."""
    if secret is None or not offered.strip() or not secret.get_secret_value().strip():
        return False
    return hmac.compare_digest(offered.encode(), secret.get_secret_value().encode())


def bearer_allows(secret: SecretStr | None) -> bool:
    """Whether the request's bearer credential is `secret`; a wrong one spends the failure budget.

    The budget is the login form's, so guessing at either door counts against both. The
    token is compared before the budget is looked at: the right one works even while the
    budget is spent, so nobody's guessing locks an operator or the landing page out. A
    wrong one then raises TooManyFailures, and writes nothing, so a flood of guesses
    costs no disk writes.
    """
    if "Authorization" not in request.headers:
        return False
    if bearer_matches(secret):
        return True
    now = time.time()
    with store().transaction() as db:
        wait = login_wait(db, now)
        if not wait:
            record_login_failure(db, now)
    if wait:
        raise TooManyFailures(wait)
    log.warning("wrong bearer token for %s from %s", request.path, request.remote_addr)
    return False


def is_admin() -> bool:
    """An operator: the admin token as a bearer credential, or a live login session.

    A request that presents a token is judged by the token alone.
    """
    if "Authorization" in request.headers:
        return bearer_allows(settings().admin_token)
    return session_is_live()


def session_is_live() -> bool:
    """A login session that nobody logged out of and that is younger than SESSION_LIFETIME."""
    if session.get("admin") is not True:
        return False
    sid, since = session.get("id"), session.get("since")
    # Sessions from before logouts were recorded carry no id: they cannot be ended, so
    # they are not taken.
    live = (
        isinstance(sid, str)
        and isinstance(since, int | float)
        and time.time() < since + SESSION_LIFETIME.total_seconds()
        and not _ended(store().connection, sid)
    )
    if not live:
        # The refused cookie is deleted in the answer, never signed again.
        session.clear()
    return live


def login_wait(db: sqlite3.Connection, now: float) -> float:
    """Seconds before the login form takes another token; 0 when it takes one now.

    Counted for all clients together: behind a proxy every request has the proxy's
    address, and a guesser can change theirs. The bearer token keeps working meanwhile,
    so an operator is never locked out by someone else's guessing.
    """
    rows = db.execute(
        "SELECT at FROM login_failures WHERE at > ? ORDER BY at DESC LIMIT ?",
        (now - LOGIN_WINDOW, LOGIN_FAILURES),
    ).fetchall()
    if len(rows) < LOGIN_FAILURES:
        return 0.0
    oldest: float = rows[-1][0]
    return max(0.0, oldest + LOGIN_WINDOW - now)


def record_login_failure(db: sqlite3.Connection, now: float) -> None:
    db.execute("DELETE FROM login_failures WHERE at <= ?", (now - LOGIN_WINDOW,))
    db.execute("INSERT INTO login_failures (at) VALUES (?)", (now,))


def log_in() -> None:
    session.clear()
    session["admin"] = True
    # What a logout records, and when the session ends anyway: the cookie is signed, so
    # the browser can read these but not change them.
    session["id"] = secrets.token_urlsafe(16)
    session["since"] = time.time()
    session.permanent = True


def log_out() -> None:
    """End this session for every worker: a copy of its cookie no longer opens anything."""
    sid, since = session.get("id"), session.get("since")
    session.clear()
    if isinstance(sid, str) and isinstance(since, int | float):
        with store().transaction() as db:
            end_session(db, sid, until=since + SESSION_LIFETIME.total_seconds(), now=time.time())


def end_session(db: sqlite3.Connection, sid: str, *, until: float, now: float) -> None:
    """Refuse session `sid` from now on; remembered until it would have expired anyway."""
    db.execute("DELETE FROM ended_sessions WHERE until <= ?", (now,))
    if until > now:
        db.execute("INSERT OR IGNORE INTO ended_sessions (id, until) VALUES (?, ?)", (sid, until))


def _ended(db: sqlite3.Connection, sid: str) -> bool:
    return db.execute("SELECT 1 FROM ended_sessions WHERE id = ?", (sid,)).fetchone() is not None


def init_app(app: Flask, app_settings: Settings) -> None:
    """Signed session cookies that scripts cannot read and other sites cannot send.

    SameSite=Strict is what makes the login form CSRF-safe without tokens: a request
    started on another site never carries the cookie, so the only state-changing
    request it could forge is a login, which needs the admin token anyway.
    """
    public = app_settings.public_url or ""
    app.config.update(
        SECRET_KEY=app_settings.flask_secret_key(),
        SESSION_COOKIE_NAME="gitops_bot_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=public.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # The session ends SESSION_LIFETIME after the login (session_is_live), so the
        # cookie is not signed again on every request to outlive it.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.register_error_handler(TooManyFailures, _too_many_failures)


def _too_many_failures(problem: TooManyFailures) -> tuple[Response, int]:
    response = jsonify({"error": problem.description, "field": "Authorization"})
    for name, value in problem.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response, 429
