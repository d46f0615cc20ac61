"""GET /v1/tenants/<slug>, the notifications and /admin show each custom domain's DNS check."""

from __future__ import annotations

import json

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
