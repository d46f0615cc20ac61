"""GET /admin: who may see it, what it shows, and its filters, through Flask's test client."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from gitops_bot.config import Settings
from gitops_bot.operator import overview, tenantlist
from gitops_bot.server.app import create_app
from gitops_bot.store import domainchecks, errorlog
from gitops_bot.store.queue import Store
from gitops_bot.web.auth import (
    LOGIN_FAILURES,
    LOGIN_WINDOW,
    SESSION_LIFETIME,
    end_session,
    login_wait,
    record_login_failure,
)
from gitops_bot.writer.writer import Writer
from helpers import ADMIN_TOKEN, STATUS_TOKEN, post_event, signup

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def slugs_shown(html: str) -> list[str]:
    return re.findall(r'<tr data-slug="([^"]+)"', html)


@pytest.fixture
def fleet(client: FlaskClient, writer: Writer, store: Store) -> Store:
    """Three committed signups (one suspended), one still queued, one failed."""
    for slug in ("alpha", "bravo", "charlie"):
        post_event(client, signup(slug))
    writer.drain_once()
    post_event(
        client,
        {
            "type": "tenant.suspend",
            "timestamp": "2026-11-24T12:00:00Z",
            "data": {"slug": "bravo", "reason": "unpaid"},
        },
    )
    writer.drain_once()
    post_event(client, signup("doomed", plan="free"))
    store.mark_failed(store.pending(10)[0], "the checker refused tenants/doomed.json")
    post_event(client, signup("queued"))
    return store


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {STATUS_TOKEN}"}],
    ids=["none", "wrong", "status-token"],
)
def test_without_the_admin_token_json_clients_get_401_and_no_data(
    client: FlaskClient, fleet: Store, headers: dict[str, str]
) -> None:
    response = client.get("/admin", headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "the admin token is required"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_browsers_get_the_login_form_and_no_data(client: FlaskClient, fleet: Store) -> None:
    response = client.get("/admin", headers=BROWSER)
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert 'name="token"' in response.text
    assert "alpha" not in response.text
    assert not slugs_shown(response.text)


def test_the_page_shows_tenants_hosts_queue_and_errors(client: FlaskClient, fleet: Store) -> None:
    errorlog.remember(fleet, "writer", "push refused: Authorization: Bearer ghs_abcdef123456")
    page = client.get("/admin", headers=BEARER)
    assert page.status_code == 200
    html = page.text
    # Seeded tenants (only on the branch), signups in every state, and the failed one.
    assert slugs_shown(html) == [
        "acme",
        "alpha",
        "bravo",
        "charlie",
        "doomed",
        "globex",
        "initech",
        "queued",
    ]
    assert re.search(r'data-slug="bravo".*?state-suspended', html, re.DOTALL)
    assert re.search(r'data-slug="doomed".*?free.*?state-failed', html, re.DOTALL)
    assert 'data-testid="queue-depth">1<' in html
    assert "web-1" in html
    assert re.search(r'<meter min="0" max="100" value="\d+"', html)
    assert "the checker refused tenants/doomed.json" in html
    assert "push refused" in html
    assert "ghs_abcdef123456" not in html
    # Nothing to run: the page works, and stays safe, without JavaScript.
    assert "<script" not in html
    nonce = re.search(r"<style nonce=\"([^\"]+)\"", html)
    assert nonce is not None
    assert f"style-src 'nonce-{nonce[1]}'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_filters_and_sorting_by_query_string(client: FlaskClient, fleet: Store) -> None:
    def shown(query: str) -> list[str]:
        return slugs_shown(client.get(f"/admin?{query}", headers=BEARER).text)

    assert shown("state=suspended") == ["bravo"]
    # The seeded tenants' story is recovered from git: committed too.
    assert shown("state=committed") == ["acme", "alpha", "charlie", "globex", "initech"]
    on_web_1 = shown("host=web-1")
    assert on_web_1
    assert set(on_web_1).isdisjoint(shown("host=web-2"))
    assert shown("q=ar") == ["charlie"]
    # Oldest first: the seeded tenants, then the signups, the queued one last.
    by_age = shown("sort=-age")
    assert set(by_age[:3]) == {"acme", "globex", "initech"}
    assert set(by_age[3:6]) == {"alpha", "bravo", "charlie"}
    assert by_age[-1] == "queued"
    assert shown("sort=age")[0] == "queued"
    assert shown("sort=-slug")[0] == "queued"
    assert "doomed" in shown("plan=free")
    assert "alpha" not in shown("plan=free")
    assert shown("prefix=ch") == ["charlie"]
    assert shown("state=failed&sort=-changed") == ["doomed"]
    # A state nobody is in yet stays chosen in the menu, so the form keeps it.
    deploying = client.get("/admin?state=deploying", headers=BEARER).text
    assert "<option selected>deploying</option>" in deploying


def test_pages_link_to_each_other_and_keep_the_filters(client: FlaskClient, store: Store) -> None:
    with store.transaction():
        for n in range(7):
            store.reserve(slug=f"page-{n}", host="web-1", plan="pro", domains=())
    first = client.get("/admin?state=queued&per_page=3&sort=-slug", headers=BEARER).text
    assert slugs_shown(first) == ["page-6", "page-5", "page-4"]
    assert "1–3 of 7 matching" in first
    assert 'rel="prev"' not in first
    following = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert following is not None
    link = html.unescape(following[1])
    assert link == "/admin?state=queued&sort=-slug&page=2&per_page=3"
    second = client.get(link, headers=BEARER).text
    assert slugs_shown(second) == ["page-3", "page-2", "page-1"]
    last = re.search(r'<a href="([^"]+)" rel="last">', second)
    assert last is not None
    assert slugs_shown(client.get(html.unescape(last[1]), headers=BEARER).text) == ["page-0"]
    back = re.search(r'<a href="([^"]+)" rel="prev">', second)
    assert back is not None
    assert slugs_shown(client.get(html.unescape(back[1]), headers=BEARER).text) == slugs_shown(
        first
    )
    # A sort heading keeps the filters and starts again at the first page.
    assert 'href="/admin?state=queued&amp;per_page=3"' in second
    past = client.get("/admin?state=queued&per_page=3&page=9", headers=BEARER)
    assert past.status_code == 200
    assert not slugs_shown(past.text)
    assert "the first page" in past.text


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("sort=nonsense", "sort"),
        ("page=0", "page"),
        ("page=two", "page"),
        ("per_page=100000", "per_page"),
        ("state=sleeping", "state"),
        ("host=%00", "host"),
        ("plan=a%20b", "plan"),
        ("q=%3Cscript%3E", "q"),
        ("prefix=%E2%80%AE", "prefix"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client: FlaskClient, query: str, name: str) -> None:
    answer = client.get(f"/admin?{query}", headers=BEARER)
    assert answer.status_code == 400
    assert answer.json is not None
    assert answer.json["field"] == name
    assert repr(name) in answer.json["error"]
    page = client.get(f"/admin?{query}", headers={**BEARER, **BROWSER})
    assert page.status_code == 400
    assert page.mimetype == "text/html"
    assert f"query parameter &#39;{name}&#39;" in page.text
    assert "<script>" not in page.text
    # Without the token, nothing about the parameters: the login answer comes first.
    assert client.get(f"/admin?{query}").status_code == 401


def test_links_to_commit_review_and_deploy(
    settings: Settings, state_repo: Path, fleet: Store
) -> None:
    app = create_app(
        settings.model_copy(
            update={"commit_url_template": "https://github.com/acme-ops/fleet/commit/{sha}"}
        )
    )
    with fleet.transaction():
        fleet.add_transition("alpha", "deploying", url="https://deploys.example/run/7")
        fleet.add_transition("charlie", "pr_open", url="tenant/charlie")
    html = app.test_client().get("/admin", headers=BEARER).text
    alpha = html[html.index('data-slug="alpha"') : html.index('data-slug="bravo"')]
    sha = fleet.transitions("alpha")[1]["commit_sha"]
    assert f'href="https://github.com/acme-ops/fleet/commit/{sha}"' in alpha
    assert 'href="https://deploys.example/run/7"' in alpha
    charlie = html[html.index('data-slug="charlie"') : html.index('data-slug="doomed"')]
    # A local review "URL" is a branch name: shown, not linked.
    assert "<code>tenant/charlie</code>" in charlie
    # Without a template, the short sha is shown and not linked.
    plain = create_app(settings).test_client().get("/admin", headers=BEARER).text
    assert f"<code>{sha[:12]}</code>" in plain


def test_login_form_sets_a_strict_httponly_session(client: FlaskClient, fleet: Store) -> None:
    refused = client.post("/admin/login", data={"token": "guess"}, headers=BROWSER)
    assert refused.status_code == 401
    assert "not the admin token" in refused.text
    assert "Set-Cookie" not in refused.headers
    accepted = client.post("/admin/login", data={"token": ADMIN_TOKEN}, headers=BROWSER)
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == "/admin"
    cookie = accepted.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert ADMIN_TOKEN not in cookie
    assert slugs_shown(client.get("/admin", headers=BROWSER).text)
    assert client.get("/metrics").status_code == 200
    client.post("/admin/logout")
    assert client.get("/admin", headers=BROWSER).status_code == 401


def test_guessing_the_token_locks_the_form_for_everyone_but_not_the_bearer_token(
    client: FlaskClient, fleet: Store
) -> None:
    for _ in range(LOGIN_FAILURES):
        assert client.post("/admin/login", data={"token": "guess"}).status_code == 401
    locked = client.post("/admin/login", data={"token": ADMIN_TOKEN}, headers=BROWSER)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= LOGIN_WINDOW
    assert "Too many failed logins" in locked.text
    assert "Set-Cookie" not in locked.headers
    scripted = client.post("/admin/login", data={"token": "guess"})
    assert scripted.status_code == 429
    assert scripted.json is not None
    assert scripted.json["error"].startswith("Too many failed logins")
    assert client.get("/admin", headers=BEARER).status_code == 200


def test_the_login_window_slides(store: Store) -> None:
    db = store.connection
    for second in range(LOGIN_FAILURES):
        record_login_failure(db, 1000.0 + second)
    assert login_wait(db, 1000.0 + LOGIN_FAILURES) == LOGIN_WINDOW - LOGIN_FAILURES
    # Once the first failure is older than the window, one more guess is let through.
    assert login_wait(db, 1000.0 + LOGIN_WINDOW + 0.5) == 0.0
    record_login_failure(db, 1000.0 + LOGIN_WINDOW + 0.5)
    assert login_wait(db, 1000.0 + LOGIN_WINDOW + 0.5) == 0.5  # until 1001's ages out
    assert db.execute("SELECT count(*) FROM login_failures").fetchone()[0] == LOGIN_FAILURES


def test_a_new_admin_token_ends_old_sessions(
    settings: Settings, state_repo: Path, client: FlaskClient
) -> None:
    client.post("/admin/login", data={"token": ADMIN_TOKEN})
    cookie = client.get_cookie("gitops_bot_admin")
    assert cookie is not None
    rotated = create_app(settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN[::-1])}))
    other = rotated.test_client()
    other.set_cookie("gitops_bot_admin", cookie.value)
    assert other.get("/admin").status_code == 401
    same = create_app(settings).test_client()
    same.set_cookie("gitops_bot_admin", cookie.value)
    assert same.get("/admin").status_code == 200


def _logged_in_cookie(client: FlaskClient) -> str:
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 303
    cookie = client.get_cookie("gitops_bot_admin")
    assert cookie is not None
    return cookie.value


def test_logging_out_ends_the_session_for_every_copy_of_its_cookie_in_every_worker(
    settings: Settings, state_repo: Path, client: FlaskClient
) -> None:
    copied = _logged_in_cookie(client)
    # Another gunicorn worker: its own app and connection, the same SQLite file.
    worker = create_app(settings).test_client()
    worker.set_cookie("gitops_bot_admin", copied)
    assert worker.get("/admin").status_code == 200
    assert client.post("/admin/logout").status_code == 303
    for other in (create_app(settings).test_client(), worker):
        other.set_cookie("gitops_bot_admin", copied)
        refused = other.get("/admin", headers=BROWSER)
        assert refused.status_code == 401
        assert 'name="token"' in refused.text  # the login form
        # The refused cookie is deleted, not signed again with a fresh date.
        assert "gitops_bot_admin=;" in refused.headers["Set-Cookie"]
        other.set_cookie("gitops_bot_admin", copied)
        assert other.get("/metrics").status_code == 401
    # Logging in again is a new session, which works.
    assert create_app(settings).test_client().get("/admin", headers=BEARER).status_code == 200
    _logged_in_cookie(client)
    assert client.get("/admin").status_code == 200


def _signed(app: Flask, data: dict[str, object]) -> str:
    """A session cookie as this app signs them: the shape a cookie from its login has."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    return str(serializer.dumps(data))


@pytest.mark.parametrize(
    "data",
    [
        {"admin": True},
        {
            "admin": True,
            "id": "old-session",
            "since": time.time() - SESSION_LIFETIME.total_seconds(),
        },
    ],
    ids=["no-id", "outlived"],
)
def test_a_session_without_an_id_or_older_than_its_lifetime_is_refused(
    settings: Settings, state_repo: Path, data: dict[str, object]
) -> None:
    app = create_app(settings)
    client = app.test_client()
    client.set_cookie("gitops_bot_admin", _signed(app, data))
    assert client.get("/admin").status_code == 401
    fresh = {**data, "id": "fresh-session", "since": time.time()}
    client.set_cookie("gitops_bot_admin", _signed(app, fresh))
    assert client.get("/admin").status_code == 200


def test_ended_sessions_are_forgotten_once_they_would_have_expired(store: Store) -> None:
    db = store.connection
    end_session(db, "first", until=2000.0, now=1000.0)
    end_session(db, "expired-already", until=999.0, now=1000.0)
    end_session(db, "second", until=3000.0, now=2500.0)
    assert [row[0] for row in db.execute("SELECT id FROM ended_sessions")] == ["second"]


def test_errors_fold_repeats_and_keep_only_the_last_few(client: FlaskClient, store: Store) -> None:
    for n in range(errorlog.KEEP + 5):
        errorlog.remember(store, "writer", f"failure {n}")
    errorlog.remember(store, "writer", f"failure {errorlog.KEEP + 4}")
    kept = errorlog.recent(store, limit=1000)
    assert len(kept) == errorlog.KEEP
    assert (kept[0].message, kept[0].repeats) == (f"failure {errorlog.KEEP + 4}", 2)
    assert kept[-1].message == "failure 5"
    assert "2 times" in client.get("/admin", headers=BEARER).text


def test_every_query_the_page_runs_reads_an_index_without_sorting(store: Store) -> None:
    """All of the page, not only its list: no panel may grow with the fleet or its history."""
    db = store.connection
    db.execute("ANALYZE")
    ran: list[str] = []
    db.set_trace_callback(ran.append)
    try:
        tenantlist.read_page(db, tenantlist.parse({"state": "failed", "sort": "-changed"}))
        tenantlist.distinct(db, "plan")
        overview.host_loads(store)
        overview.queue_state(store)
        overview.last_errors(store)
        domainchecks.everything(db)
    finally:
        db.set_trace_callback(None)
    selects = [sql for sql in ran if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) >= 8
    # Tables that stay small whatever the fleet: a host each, a few pruned errors, settings.
    small = {"host_seats", "meta", "errors", "tenant_list_counts"}
    for sql in selects:
        steps = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        read = {step.split()[1] for step in steps if step.startswith(("SCAN", "SEARCH"))}
        if read <= small:
            continue
        assert not any("TEMP B-TREE" in step for step in steps), (sql, steps)
        unindexed = [s for s in steps if s.startswith("SCAN") and "INDEX" not in s]
        # `seen` is the menus' recursive seek: one row a step, one step a value.
        assert all(step.split()[1] in small | {"seen"} for step in unindexed), (sql, steps)
