"""The app factory, health, the OpenAPI document and the status endpoint."""

from __future__ import annotations

from pathlib import Path

import jsonschema_rs
import pytest
from flask.testing import FlaskClient

from gitops_bot.config import ConfigError, Settings
from gitops_bot.server.app import create_app
from helpers import ADMIN_TOKEN, STATUS_TOKEN, change, post_event, signup


def test_factory_refuses_without_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        create_app(Settings(state_dir=tmp_path))


def test_factory_in_demo_mode(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path, demo=True))
    assert app.test_client().get("/healthz").json == {"status": "ok"}


def test_ready_only_after_the_first_sync(settings: Settings, client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200
    fresh = create_app(settings.model_copy(update={"state_dir": settings.state_dir / "fresh"}))
    assert fresh.test_client().get("/readyz").status_code == 503


def test_openapi_document(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    post = document["paths"]["/v1/events"]["post"]
    assert {"202", "401", "409", "413", "415", "422", "503"} <= set(post["responses"])
    assert "SignupEvent" in document["components"]["schemas"]
    status = document["components"]["schemas"]["TenantStatus"]
    assert "timeline" in status["required"]
    assert {p["name"] for p in post["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }


def test_every_answer_of_the_events_endpoint_is_documented(client: FlaskClient) -> None:
    # A lifecycle event about a tenant that does not exist is a 404.
    documented = client.get("/openapi.json").json["paths"]["/v1/events"]["post"]["responses"]
    answer = post_event(client, change("tenant.suspend", "nobody-here"))
    assert answer.status_code == 404
    assert str(answer.status_code) in documented


def event_validator(client: FlaskClient) -> jsonschema_rs.Validator:
    """The document's schema of POST /v1/events bodies, as a client would validate them."""
    document = client.get("/openapi.json").json
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator({**body["schema"], **document}, validate_formats=True)


@pytest.mark.parametrize(
    ("payload", "verdict"),
    [
        (signup("Acme-2"), "valid"),  # A-Z is lowered, so it may be sent
        (signup("ab"), "invalid"),
        (signup("ab--cd"), "invalid"),
        (signup("a" * 41), "invalid"),
        (signup("bad_slug"), "invalid"),
        (signup(None), "invalid"),  # neither slug nor organization
        (signup(None, organization="Acme"), "valid"),
        (signup("acme", domain="Shop.Example.com"), "valid"),
        (signup("acme", domain="xn--80ak6aa92e.com"), "invalid"),
        (change("tenant.update", "acme"), "invalid"),  # neither plan nor domains
        (change("tenant.update", "acme", plan="pro"), "valid"),
        (change("tenant.update", "acme", domains=[]), "valid"),
        (change("tenant.suspend", "x"), "invalid"),
    ],
)
def test_the_document_states_what_intake_refuses(
    client: FlaskClient, payload: dict[str, object], verdict: str
) -> None:
    valid = verdict == "valid"
    assert event_validator(client).is_valid(payload) is valid
    answer = post_event(client, payload)
    assert (answer.status_code != 422) is valid, answer.json


def test_status_needs_the_token_and_hides_existence(client: FlaskClient) -> None:
    url = post_event(client, signup("watched")).json["statusUrl"]
    path = url.removeprefix("http://localhost")
    unknown = client.get("/v1/tenants/nobody", headers={"Authorization": f"Bearer {STATUS_TOKEN}"})
    anonymous = client.get(path)
    wrong = client.get(path, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == anonymous.status_code == wrong.status_code == 404
    assert unknown.json == anonymous.json == wrong.json
    ok = client.get(path, headers={"Authorization": f"Bearer {STATUS_TOKEN}"})
    assert ok.status_code == 200
    assert ok.json["status"] == "accepted"
    assert ok.json["transitions"][0]["event_id"]


def test_public_url_shapes_the_status_url(settings: Settings, state_repo: Path) -> None:
    app = create_app(settings.model_copy(update={"public_url": "https://bot.example.com/"}))
    answer = post_event(app.test_client(), signup("public"))
    assert answer.json["statusUrl"] == "https://bot.example.com/v1/tenants/public"


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.is_json


def test_openapi_documents_the_github_webhook(client: FlaskClient) -> None:
    post = client.get("/openapi.json").json["paths"]["/webhooks/github"]["post"]
    assert {"200", "400", "401", "404", "413", "415"} <= set(post["responses"])
    assert {p["name"] for p in post["parameters"]} == {
        "X-Hub-Signature-256",
        "X-GitHub-Event",
        "X-GitHub-Delivery",
    }


@pytest.mark.parametrize(
    ("path", "media_type"), [("/admin", "text/html"), ("/metrics", "text/plain")]
)
def test_operator_endpoints_answer_as_documented(
    client: FlaskClient, path: str, media_type: str
) -> None:
    operation = client.get("/openapi.json").json["paths"][path]["get"]
    assert operation["security"] == [{"bearer": []}]
    refused = client.get(path)
    assert refused.status_code == 401
    assert refused.mimetype in operation["responses"]["401"]["content"]
    opened = client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert opened.status_code == 200
    assert opened.mimetype == media_type
    assert media_type in operation["responses"]["200"]["content"]
    if path == "/admin":
        names = [parameter["name"] for parameter in operation["parameters"]]
        assert names == ["state", "plan", "host", "prefix", "q", "sort", "page", "per_page"]
        bad = client.get("/admin?page=0", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert bad.status_code == 400
        assert bad.mimetype in operation["responses"]["400"]["content"]
