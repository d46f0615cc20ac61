"""GET /admin: the operator view, server-rendered; the admin token or a login session opens it."""

from __future__ import annotations

import logging
import math
import secrets
import time
from typing import Final

from flask import (
    Blueprint,
    Response,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from gitops_bot.operator import overview
from gitops_bot.store import domainchecks, notices
from gitops_bot.web.appcontext import settings, store
from gitops_bot.web.auth import (
    is_admin,
    log_in,
    log_out,
    login_wait,
    record_login_failure,
    token_matches,
)

bp = Blueprint("admin", __name__, template_folder="templates")
log = logging.getLogger(__name__)

# A page of ten thousand rows helps nobody; the filters narrow it down.
MAX_ROWS: Final = 1000


@bp.after_request
def _headers(response: Response) -> Response:
    # No script at all, styles only from the page's own <style>, no framing, and links
    # to GitHub do not tell it where the operator came from.
    nonce = g.get("csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.before_request
def _nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _login_page(problem: str | None = None) -> tuple[Response | str, int]:
    """401 with the login form for a browser, with a JSON error for anything else; no data."""
    if not _wants_html():
        response = jsonify({"error": "the admin token is required"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="gitops-bot"'
        return response, 401
    return render_template("login.html", problem=problem, nonce=g.csp_nonce), 401


def _too_many_failures(retry_after: int) -> tuple[Response | str, int]:
    problem = f"Too many failed logins: try again in {retry_after} s, or use the bearer token."
    if _wants_html():
        page = render_template("login.html", problem=problem, nonce=g.csp_nonce)
        response = Response(page, 429, mimetype="text/html")
    else:
        response = jsonify({"error": problem})
        response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response, 429


@bp.get("/admin")
def overview_page() -> tuple[Response | str, int] | str:
    if not is_admin():
        return _login_page()
    now = time.time()
    rows = overview.tenant_rows(store())
    state = request.args.get("state", "")
    host = request.args.get("host", "")
    search = request.args.get("q", "").strip().lower()
    sort = request.args.get("sort", "slug")
    shown = overview.select(rows, state=state, host=host, search=search, sort=sort, now=now)
    hosts = overview.host_loads(store())
    template = settings().commit_url_template
    return render_template(
        "admin.html",
        nonce=g.csp_nonce,
        now=now,
        rows=shown[:MAX_ROWS],
        matched=len(shown),
        total=len(rows),
        states=overview.states(rows),
        hosts=hosts,
        queue=overview.queue_state(store()),
        errors=overview.last_errors(store()),
        notices=notices.current(store().connection),
        domains=domainchecks.everything(store().connection),
        filters={"state": state, "host": host, "q": search, "sort": sort},
        sort_keys=overview.SORT_KEYS,
        age_text=overview.age_text,
        commit_link=lambda sha: overview.commit_link(template, sha),
        web_link=overview.web_link,
    )


@bp.post("/admin/login")
def login() -> BaseResponse | tuple[Response | str, int]:
    # SameSite=Strict on the session cookie is what keeps this form CSRF-safe (auth.py).
    now = time.time()
    with store().transaction() as db:
        wait = login_wait(db, now)
        matches = not wait and token_matches(request.form.get("token", ""), settings().admin_token)
        if not wait and not matches:
            record_login_failure(db, now)
    if wait:
        log.warning("admin login from %s refused unread: too many failures", request.remote_addr)
        return _too_many_failures(math.ceil(wait))
    if not matches:
        log.warning("admin login refused from %s", request.remote_addr)
        return _login_page("That is not the admin token.")
    log_in()
    log.info("admin logged in from %s", request.remote_addr)
    return redirect(url_for("admin.overview_page"), code=303)


@bp.post("/admin/logout")
def logout() -> BaseResponse:
    log_out()
    return redirect(url_for("admin.overview_page"), code=303)
