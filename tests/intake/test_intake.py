"""Intake decisions: slugs, domains, hosts and capacity, decided once and atomically."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gitops_bot.config import Settings
from gitops_bot.intake.events import derive_slug
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from helpers import change, post_event, seed_state_repo, signup


def test_slug_derived_from_organization(client: FlaskClient) -> None:
    response = post_event(client, signup(None, organization="Café Müller GmbH"))
    assert response.status_code == 202
    assert response.json["slug"] == "cafe-muller-gmbh"


def test_derived_slug_gets_a_number_when_taken(client: FlaskClient) -> None:
    slugs = [post_event(client, signup(None, organization="Globex")).json["slug"] for _ in range(3)]
    # globex is one of the example tenants already on the branch.
    assert slugs == ["globex-2", "globex-3", "globex-4"]


def test_reserved_derived_slug_is_numbered(client: FlaskClient) -> None:
    assert post_event(client, signup(None, organization="Admin")).json["slug"] == "admin-2"


def test_underivable_organization_is_422(client: FlaskClient) -> None:
    response = post_event(client, signup(None, organization="日本"))
    assert response.status_code == 422
    assert response.json["field"] == "data.organization"


def test_derive_slug_is_bounded() -> None:
    slug = derive_slug("A" * 100 + " Holdings")
    assert len(slug) <= 40
    assert not slug.endswith("-")


def test_taken_slug_on_the_branch_is_409(client: FlaskClient) -> None:
    response = post_event(client, signup("acme"))
    assert response.status_code == 409
    assert response.json["field"] == "data.slug"


def test_reserved_slug_is_409(client: FlaskClient) -> None:
    response = post_event(client, signup("www"))
    assert response.status_code == 409
    assert "reserved" in response.json["error"]


def test_unknown_plan_is_422(client: FlaskClient) -> None:
    response = post_event(client, signup("newco", plan="platinum"))
    assert response.status_code == 422
    assert response.json["field"] == "data.plan"


def test_domain_under_the_base_domain_is_422(client: FlaskClient) -> None:
    response = post_event(client, signup("newco", domain="other.tenants.example.com"))
    assert response.status_code == 422
    assert response.json["field"] == "data.domain"


@pytest.mark.parametrize(
    "domain", ["example.com", "web-1.fleet.example.net", "mail.web-2.fleet.example.net"]
)
def test_a_domain_the_operator_owns_is_422(client: FlaskClient, domain: str) -> None:
    response = post_event(client, signup("newco", domain=domain))
    assert response.status_code == 422
    assert response.json["field"] == "data.domain"
    assert domain in response.json["error"]


def test_an_update_to_a_host_address_is_422(client: FlaskClient) -> None:
    response = post_event(
        client, change("tenant.update", "acme", domains=["web-1.fleet.example.net"])
    )
    assert response.status_code == 422
    assert response.json["field"] == "data.domains"


def test_taken_domain_is_409(client: FlaskClient) -> None:
    response = post_event(client, signup("newco", domain="portal.initech.example"))
    assert response.status_code == 409
    assert response.json["field"] == "data.domain"


def test_full_fleet_is_503_and_queues_nothing(settings: Settings, seed_dir: Path) -> None:
    inventory = json.loads((seed_dir / "nix/inventory.json").read_text())
    for host in inventory["hosts"].values():
        host["capacity"] = 2  # the examples already use 3 of the 4 seats
    (seed_dir / "nix/inventory.json").write_text(json.dumps(inventory))
    seed_state_repo(settings)
    client = create_app(settings).test_client()
    assert post_event(client, signup("last-seat")).status_code == 202
    response = post_event(client, signup("no-seat"))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "capacity" in response.json["error"]
    with Store(settings.database_path) as store:
        assert store.pending_count() == 1


def test_full_queue_is_503(settings: Settings, state_repo: Path) -> None:
    client = create_app(settings.model_copy(update={"max_queue": 2})).test_client()
    assert [post_event(client, signup(f"queued-{n}")).status_code for n in range(3)] == [
        202,
        202,
        503,
    ]


def test_before_the_first_sync_intake_asks_to_retry(settings: Settings) -> None:
    response = post_event(create_app(settings).test_client(), signup("early"))
    assert response.status_code == 503
    assert "retry" in response.json["error"]


def test_new_tenant_goes_to_the_emptiest_host(client: FlaskClient, store: Store) -> None:
    # The examples put two tenants on web-1 and one on web-2.
    post_event(client, signup("first-new"))
    post_event(client, signup("second-new"))
    assert store.tenants_per_host() == {"web-1": 3, "web-2": 2}


def test_concurrent_signups_for_one_slug_get_one_202(app: Flask, store: Store) -> None:
    barrier = threading.Barrier(8)
    codes: list[int] = []

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        codes.append(post_event(client, signup("contested")).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [202] + [409] * 7
    assert store.pending_count() == 1
