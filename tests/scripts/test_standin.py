"""scripts/standin.py: the stand-in reports through the bot's webhook and serves real HTTPS."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from werkzeug.serving import make_server

from gitops_bot.config import Settings
from gitops_bot.deploy.live import LiveRunner
from gitops_bot.deploy.probe import Prober, ProbeSpec
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import GITHUB_WEBHOOK_SECRET, ROOT, post_event, repo_for, signup

BASE = "tenants.example.com"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("standin", ROOT / "scripts" / "standin.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["standin"] = module
    spec.loader.exec_module(module)
    return module


standin = _load()


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Any]:
    served = standin.Sites(standin.StandinCA(tmp_path / "ca"))
    yield served
    served.close()


@pytest.fixture
def hearing(settings: Settings, state_repo: Path) -> Iterator[tuple[Settings, str]]:
    """The bot's web app on a real 127.0.0.1 port, with a GitHub webhook secret."""
    configured = settings.model_copy(
        update={"github_webhook_secret": SecretStr(GITHUB_WEBHOOK_SECRET)}
    )
    app = create_app(configured)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield configured, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def probe(sites, name: str, *, trust: bool = True) -> str:
    prober = Prober(
        resolve=lambda _name, _port: ["127.0.0.1"],
        ca_file=sites.ca.bundle if trust else None,
    )
    return prober.probe(name, ProbeSpec(port=sites.port, timeout=5)).detail


def test_a_name_answers_with_a_verified_certificate_only_once_brought_up(sites) -> None:
    name = f"hooli.{BASE}"
    before = probe(sites, name)
    assert before.startswith(f"TLS: certificate verification failed for {name}")
    sites.bring_up([name])
    assert probe(sites, name) == "GET / answered 200"
    # The certificate comes from the run's own CA, which nothing else trusts.
    assert "unable to get local issuer certificate" in probe(sites, name, trust=False)
    assert probe(sites, f"other.{BASE}").startswith("TLS: certificate verification failed")


def test_a_deploy_reports_deploying_then_deployed_through_the_webhook_and_the_probe_says_live(
    hearing, state_repo: Path, sites, tmp_path: Path
) -> None:
    settings, url = hearing
    api = standin.WebhookDeployments(url, GITHUB_WEBHOOK_SECRET)
    said: list[str] = []
    engine = standin.StandinEngine(state_repo, sites=sites, api=api, seconds=0.2, say=said.append)
    client = create_app(settings).test_client()
    commit(client, settings, "hooli")
    head = engine._head()
    started = time.time()
    done = engine.deploy(head)
    assert done.tenants == ("hooli",)
    assert done.ended - done.started >= 0.2
    assert done.started >= started
    assert sites.is_up(f"hooli.{BASE}")
    with Store(settings.database_path) as store:
        statuses = [row["status"] for row in store.transitions("hooli")]
        assert statuses[-2:] == ["deploying", "deployed"]
        assert store.transitions("hooli")[-1]["url"] == f"https://hooli.{BASE}"
        runner = LiveRunner(
            settings.model_copy(
                update={
                    "probe_port": sites.port,
                    "probe_ca_file": sites.ca.bundle,
                    "probe_resolve": {f"hooli.{BASE}": "127.0.0.1"},
                    "probe_interval": 0.01,
                }
            )
        )
        deadline = time.monotonic() + 10
        while store.last_status("hooli") != "live" and time.monotonic() < deadline:
            runner.run(store)
            time.sleep(0.02)
        assert store.last_status("hooli") == "live"
    assert any("stand-in deploy" in line for line in said)


def test_the_engine_deploys_each_new_commit_by_itself_and_nothing_from_before(
    hearing, state_repo: Path, sites
) -> None:
    settings, url = hearing
    client = create_app(settings).test_client()
    commit(client, settings, "early")  # on the branch before the engine starts: not deployed
    api = standin.WebhookDeployments(url, GITHUB_WEBHOOK_SECRET)
    engine = standin.StandinEngine(
        state_repo, sites=sites, api=api, seconds=0.05, poll=0.02, say=lambda _line: None
    ).start()
    try:
        commit(client, settings, "later")
        deadline = time.monotonic() + 20
        while not engine.deploys and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        engine.stop()
    assert [d.tenants for d in engine.deploys] == [("later",)]
    assert not engine.errors
    assert not sites.is_up(f"early.{BASE}")
    with Store(settings.database_path) as store:
        assert store.last_status("later") == "deployed"
        assert store.last_status("early") in {"committed", "evaluated"}


def test_a_refused_report_is_a_failed_deploy_not_a_crash(state_repo: Path, sites) -> None:
    # A bot that does not know the secret refuses the webhook: the deploy says so and stops.
    api = standin.WebhookDeployments("http://127.0.0.1:9", GITHUB_WEBHOOK_SECRET)
    deployment = api.create(ref="0" * 40, environment="production", payload={}, description="")
    with pytest.raises(standin.ReportError, match="deployment_status in_progress"):
        api.create_status(
            deployment, state="in_progress", description="", environment_url=None, log_url=None
        )


def commit(client: FlaskClient, settings: Settings, slug: str) -> None:
    post_event(client, signup(slug, plan="pro"))
    repo = repo_for(settings)
    try:
        with Store(settings.database_path) as store:
            Writer(store=store, repo=repo, settings=settings).drain_once()
    finally:
        repo.close()
