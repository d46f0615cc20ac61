"""GET /admin: the operator view, server-rendered; the admin token or a login session opens it."""

from __future__ import annotations

import logging
import math
import secrets
import time
from typing import Any

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

from gitops_bot.operator import overview, tenantlist, timeline_chart
from gitops_bot.store import domainchecks
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
    try:
        query = tenantlist.parse(request.args)
    except tenantlist.BadParameter as bad:
        return _bad_parameter(bad)
    now = time.time()
    db = store().connection
    template = settings().commit_url_template
    return render_template(
        "admin.html",
        nonce=g.csp_nonce,
        now=now,
        page=tenantlist.read_page(db, query),
        query=query,
        states=tenantlist.menu(db, "state", query.state),
        plans=tenantlist.menu(db, "plan", query.plan),
        hosts=overview.host_loads(store()),
        queue=overview.queue_state(store()),
        errors=overview.last_errors(store()),
        domains=domainchecks.everything(db),
        sort_labels=tenantlist.SORT_LABELS,
        default_per_page=tenantlist.DEFAULT_PER_PAGE,
        list_url=lambda **changes: _list_url(query, **changes),
        age_text=overview.age_text,
        commit_link=lambda sha: overview.commit_link(template, sha),
        web_link=overview.web_link,
        chart=timeline_chart.recent(store().connection),
        seconds_text=timeline_chart.seconds_text,
    )


def _list_url(query: tenantlist.ListQuery, **changes: str | int) -> str:
    """This list's link with `changes`: filters, sort and page in the query string, shareable."""
    values: dict[str, Any] = query.args(**changes)
    return url_for("admin.overview_page", **values)


def _bad_parameter(bad: tenantlist.BadParameter) -> tuple[Response | str, int]:
    """400 naming the parameter: a hand-edited link is the operator's typo, not our error."""
    if _wants_html():
        return render_template("problem.html", problem=str(bad), nonce=g.csp_nonce), 400
    return jsonify({"error": str(bad), "field": bad.name}), 400


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
