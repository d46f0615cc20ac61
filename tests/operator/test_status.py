"""GET /v1/tenants/<slug>: its timeline; with the notifications and /admin, its domains."""

from __future__ import annotations

import json

import jsonschema_rs
from flask.testing import FlaskClient

from gitops_bot.store import outbox
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import ADMIN_TOKEN, STATUS_TOKEN, post_event, signup

DOMAIN = "shop.acme-corp.example"
RECORD = {
    "txtName": f"_gitops-bot.{DOMAIN}",
    "txtValue": "gitops-bot-verification=acme-corp",
    "cnameName": DOMAIN,
    "cnameTarget": "acme-corp.tenants.example.com",
}


def test_the_status_shows_the_record_to_create_and_the_domains_state(
    client: FlaskClient, writer: Writer
) -> None:
    assert post_event(client, signup("acme-corp", domain=DOMAIN)).status_code == 202
    writer.drain_once()
    answer = client.get(
        "/v1/tenants/acme-corp", headers={"Authorization": f"Bearer {STATUS_TOKEN}"}
    )
    assert answer.status_code == 200
    (domain,) = answer.json["domains"]
    assert domain == {
        "domain": DOMAIN,
        "state": "pending",
        "attempts": 0,
        "lastError": None,
        "record": RECORD,
    }
    plain = post_event(client, signup("plain-corp"))
    assert plain.status_code == 202
    answer = client.get(
        "/v1/tenants/plain-corp", headers={"Authorization": f"Bearer {STATUS_TOKEN}"}
    )
    assert answer.json["domains"] == []


def test_notifications_carry_the_record_to_create(
    client: FlaskClient, writer: Writer, store: Store
) -> None:
    outbox.enable(store.connection, on=True)
    post_event(client, signup("acme-corp", domain=DOMAIN))
    writer.drain_once()
    rows = store.connection.execute("SELECT body FROM outbox WHERE slug = 'acme-corp'")
    bodies = [json.loads(body) for (body,) in rows]
    committed = [b for b in bodies if b["data"]["status"] == "committed"]
    assert committed
    assert committed[0]["data"]["domains"][0]["record"] == RECORD
    assert committed[0]["data"]["domains"][0]["state"] == "pending"


def test_admin_lists_each_domain_with_its_state_and_record(
    client: FlaskClient, writer: Writer
) -> None:
    post_event(client, signup("acme-corp", domain=DOMAIN))
    writer.drain_once()
    page = client.get("/admin", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-domain="{DOMAIN}"' in html
    assert "state-pending" in html
    assert f'_gitops-bot.{DOMAIN} TXT "gitops-bot-verification=acme-corp"' in html
    assert "CNAME acme-corp.tenants.example.com." in html


def status_validator(client: FlaskClient) -> jsonschema_rs.Validator:
    """The document's schema of the status answer, as the landing page would validate it."""
    document = client.get("/openapi.json").json
    answer = document["paths"]["/v1/tenants/{slug}"]["get"]["responses"]["200"]
    schema = answer["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, **document})


def test_the_status_has_the_timeline_with_nulls_for_stages_not_reached_yet(
    client: FlaskClient, writer: Writer, store: Store
) -> None:
    assert post_event(client, signup("timed-corp")).status_code == 202
    bearer = {"Authorization": f"Bearer {STATUS_TOKEN}"}
    accepted = client.get("/v1/tenants/timed-corp", headers=bearer).json
    assert accepted["timeline"] == {
        "stages": {"committed": None, "deploying": None, "deployed": None, "live": None},
        "signupToLive": None,
    }
    writer.drain_once()
    for status in ("deploying", "deployed", "live"):
        assert store.add_transition("timed-corp", status)
    answer = client.get("/v1/tenants/timed-corp", headers=bearer).json
    at = {t["status"]: t["at"] for t in answer["transitions"]}
    timeline = answer["timeline"]
    assert timeline["signupToLive"] == at["live"] - at["accepted"]
    assert timeline["stages"]["committed"] == at["committed"] - at["accepted"]
    assert timeline["stages"]["live"] == at["live"] - at["deployed"]
    assert all(value >= 0 for value in timeline["stages"].values())
    validator = status_validator(client)
    assert validator.is_valid(answer)
    assert validator.is_valid(accepted)
    assert not validator.is_valid({**answer, "timeline": {"stages": {}, "signupToLive": "1"}})
