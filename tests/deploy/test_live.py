"""The worker's liveness loop on a real queue: deployed tenants go live only once they answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from tls_site import Behaviour, Site, TestCA

from gitops_bot.config import Settings
from gitops_bot.deploy.live import LiveRunner
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import post_event, signup

BASE = "tenants.example.com"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[TestCA, Site]]:
    ca = TestCA(tmp_path / "ca")
    served = Site(*ca.issue(f"acme.{BASE}", f"beta.{BASE}"))
    yield ca, served
    served.close()


def runner(settings: Settings, ca: TestCA, site: Site, **changes: object) -> LiveRunner:
    probing = settings.model_copy(
        update={
            "probe_port": site.port,
            "probe_ca_file": ca.bundle,
            "probe_resolve": {f"acme.{BASE}": "127.0.0.1", f"beta.{BASE}": "127.0.0.1"},
            "probe_interval": 0.01,
            "probe_max_interval": 0.05,
            **changes,
        }
    )
    return LiveRunner(probing)


def deployed(client: FlaskClient, writer: Writer, store: Store, *slugs: str) -> None:
    for slug in slugs:
        post_event(client, signup(slug, plan="pro"))
    writer.drain_once()
    with store.transaction():
        for slug in slugs:
            store.add_transition(slug, "deploying")
            store.add_transition(slug, "deployed")


def statuses(store: Store, slug: str) -> list[str]:
    return [t["status"] for t in store.transitions(slug)]


def rounds(live: LiveRunner, store: Store, count: int) -> None:
    for _ in range(count):
        live.run(store)
        # The watch's own clock decides what is due; wait out the tiny interval.
        due = live.watch.next_due()
        if due is not None:
            time.sleep(max(0.0, due - time.monotonic()))


def test_a_deployed_tenant_is_live_after_its_url_answers_twice(
    client: FlaskClient, writer: Writer, store: Store, settings: Settings, site: tuple[TestCA, Site]
) -> None:
    ca, served = site
    deployed(client, writer, store, "acme")
    live = runner(settings, ca, served)
    rounds(live, store, 1)
    assert store.last_status("acme") == "deployed"  # one answer is not yet two
    rounds(live, store, 1)
    assert statuses(store, "acme")[-3:] == ["deploying", "deployed", "live"]
    assert store.transitions("acme")[-1]["url"] == f"https://acme.{BASE}/"
    assert served.hosts == [f"acme.{BASE}"] * 2


def test_a_tenant_that_answers_502_past_the_deadline_fails_then_goes_live(
    client: FlaskClient, writer: Writer, store: Store, settings: Settings, site: tuple[TestCA, Site]
) -> None:
    ca, served = site
    deployed(client, writer, store, "acme")
    served.behaviour = Behaviour(status=502)
    live = runner(settings, ca, served, probe_deadline=0.05)
    for _ in range(40):
        rounds(live, store, 1)
        if store.last_status("acme") == "failed":
            break
    last = store.transitions("acme")[-1]
    assert last["status"] == "failed"
    assert last["reason"] == "HTTP: GET / answered 502 Bad Gateway, expected 200-399"
    served.behaviour = Behaviour()
    for _ in range(200):
        rounds(live, store, 1)
        if store.last_status("acme") == "live":
            break
    assert statuses(store, "acme")[-2:] == ["failed", "live"]


def test_only_deployed_tenants_are_probed_and_a_suspended_one_is_dropped(
    client: FlaskClient, writer: Writer, store: Store, settings: Settings, site: tuple[TestCA, Site]
) -> None:
    ca, served = site
    post_event(client, signup("beta", plan="pro"))
    writer.drain_once()
    deployed(client, writer, store, "acme")
    served.behaviour = Behaviour(status=503)
    live = runner(settings, ca, served)
    rounds(live, store, 1)
    assert live.watch.watching == {"acme"}  # beta is committed, not deployed
    with store.transaction():
        store.add_transition("acme", "suspended")
    rounds(live, store, 1)
    assert live.watch.watching == frozenset()


def test_with_probe_evaluated_a_tenant_no_deploy_was_seen_for_is_probed(
    client: FlaskClient, writer: Writer, store: Store, settings: Settings, site: tuple[TestCA, Site]
) -> None:
    ca, served = site
    post_event(client, signup("beta", plan="pro"))
    writer.drain_once()
    with store.transaction():
        store.add_transition("beta", "evaluated")
    live = runner(settings, ca, served, probe_evaluated=True)
    rounds(live, store, 2)
    assert statuses(store, "beta")[-2:] == ["evaluated", "live"]


def test_the_plans_probe_path_and_answers_are_used(
    client: FlaskClient, writer: Writer, store: Store, settings: Settings, site: tuple[TestCA, Site]
) -> None:
    ca, served = site
    deployed(client, writer, store, "acme")
    served.behaviour = Behaviour(status=401)
    plans = {"pro": {"path": "/healthz", "expected": [200, 401]}}
    live = runner(
        settings,
        ca,
        served,
        probe_plans=Settings.model_validate({"probe_plans": plans}).probe_plans,
    )
    rounds(live, store, 2)
    assert store.last_status("acme") == "live"
