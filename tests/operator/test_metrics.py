"""GET /metrics: computed from SQLite, so every process's work is in every scrape."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from gitops_bot.config import Settings
from gitops_bot.intake.releases import queue_release_change
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import ADMIN_TOKEN, post_event, repo_for, seed_state_repo, signed_headers, signup

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_need_the_admin_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_intake_queue_latency_and_transitions(
    client: FlaskClient, writer: Writer, store: Store
) -> None:
    for slug in ("m-one", "m-two"):
        assert post_event(client, signup(slug)).status_code == 202
    body = json.dumps(signup("m-bad")).encode()
    unsigned = {**signed_headers(body), "webhook-signature": "v1,AAAA"}
    assert client.post("/v1/events", data=body, headers=unsigned).status_code == 401
    assert post_event(client, signup("m-bad", plan="platinum")).status_code == 422
    conflict = post_event(client, signup("m-one"), event_id="msg_conflict")
    assert conflict.status_code == 409
    # A redelivery hears the same 409 and is not counted twice.
    assert post_event(client, signup("m-one"), event_id="msg_conflict").status_code == 409
    before = scrape(client)
    assert before[("gitops_bot_queue_depth", ())] == 2
    assert before[("gitops_bot_queue_oldest_age_seconds", ())] > 0
    writer.drain_once()
    samples = scrape(client)
    assert samples[("gitops_bot_intake_accepted_total", (("type", "tenant.signup"),))] == 2
    rejected = "gitops_bot_intake_rejected_total"
    assert samples[(rejected, (("reason", "signature"),))] == 1
    assert samples[(rejected, (("reason", "invalid"),))] == 1
    assert samples[(rejected, (("reason", "conflict"),))] == 1
    assert samples[("gitops_bot_queue_depth", ())] == 0
    assert samples[("gitops_bot_queue_oldest_age_seconds", ())] == 0
    assert samples[("gitops_bot_accept_to_commit_seconds_count", ())] == 2
    assert samples[("gitops_bot_accept_to_commit_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("gitops_bot_accept_to_commit_seconds_sum", ())] > 0
    # Two signups, and the three seeded tenants whose story was recovered from git.
    assert samples[("gitops_bot_transitions_total", (("status", "committed"),))] == 2 + 3
    # The seeded example tenants count against their hosts, like new ones.
    placed = samples[("gitops_bot_host_tenants", (("host", "web-1"),))]
    placed += samples[("gitops_bot_host_tenants", (("host", "web-2"),))]
    assert placed == 5
    assert samples[("gitops_bot_host_capacity", (("host", "web-1"),))] == 100


def test_deploy_outcomes_from_transitions(client: FlaskClient, store: Store) -> None:
    with store.transaction():
        for slug, path in {
            "d-ok": ("accepted", "committed", "deploying", "deployed", "live"),
            "d-slow": ("accepted", "committed", "deploying", "deployed"),
            "d-bad": ("accepted", "committed", "deploying", "failed"),
            "d-early": ("accepted", "failed"),  # failed at commit time: not a deploy
        }.items():
            for status in path:
                store.add_transition(slug, status)
    samples = scrape(client)
    deploys = "gitops_bot_deploys_total"
    assert samples[(deploys, (("outcome", "started"),))] == 3
    assert samples[(deploys, (("outcome", "deployed"),))] == 2
    assert samples[(deploys, (("outcome", "live"),))] == 1
    assert samples[(deploys, (("outcome", "failed"),))] == 1


def test_counters_from_another_process_add_up(client: FlaskClient, settings: Settings) -> None:
    # The writer (and the GitHub backend inside it) is a process of its own.
    code = (
        "import sys; from pathlib import Path; from gitops_bot.store.counters import Counters\n"
        "counters = Counters(Path(sys.argv[1]))\n"
        "for kind in ('read', 'read', 'write'): counters.record_github_request(kind)\n"
        "counters.record_rate_limit_wait(12.5)\n"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code, str(settings.database_path)], check=True)
    samples = scrape(client)
    assert samples[("gitops_bot_github_requests_total", (("kind", "read"),))] == 4
    assert samples[("gitops_bot_github_requests_total", (("kind", "write"),))] == 2
    assert samples[("gitops_bot_github_rate_limit_waits_total", ())] == 2
    assert samples[("gitops_bot_github_rate_limit_wait_seconds_total", ())] == 25


def test_every_app_has_its_own_registry(settings: Settings, state_repo: Path) -> None:
    # Two apps in one process (as in these tests) must not collide on metric names.
    first, second = create_app(settings), create_app(settings)
    assert scrape(first.test_client()) == scrape(second.test_client())


def releases_in(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["release"]: value
        for (name, labels), value in samples.items()
        if name == "gitops_bot_tenants"
    }


def test_tenants_are_counted_per_release_as_commits_land(
    settings: Settings, seed_dir: Path
) -> None:
    inventory_path = seed_dir / "nix/inventory.json"
    inventory = json.loads(inventory_path.read_text())
    inventory["releases"] = {"default": "2026.11", "known": ["2026.11", "2026.12"]}
    inventory_path.write_text(json.dumps(inventory))
    seed_state_repo(settings)
    client = create_app(settings).test_client()
    # The three examples name no release: the legacy app.package, counted as "".
    assert releases_in(scrape(client)) == {"": 3}
    for slug in ("r-one", "r-two"):
        assert post_event(client, signup(slug)).status_code == 202
    # Queued, not on the branch yet: nothing runs them.
    assert releases_in(scrape(client)) == {"": 3}
    with Store(settings.database_path) as store:
        repo = repo_for(settings)
        writer = Writer(store=store, repo=repo, settings=settings)
        writer.drain_once()
        assert releases_in(scrape(client)) == {"": 3, "2026.11": 2}
        answer = queue_release_change(
            store, settings, slug="r-one", release="2026.12", reason="canary"
        )
        assert answer.status == 202
        writer.drain_once()
        assert releases_in(scrape(client)) == {"": 3, "2026.11": 1, "2026.12": 1}
        repo.close()
    # A queue file from before the column: the next read of the branch fills it in.
    with closing(sqlite3.connect(settings.database_path)) as db:
        db.execute("ALTER TABLE tenants DROP COLUMN release")
        db.execute("PRAGMA user_version = 8")
    with Store(settings.database_path) as store:
        store.migrate()
        assert releases_in(scrape(client)) == {"": 5}
        repo = repo_for(settings)
        Writer(store=store, repo=repo, settings=settings).head()
        repo.close()
    assert releases_in(scrape(client)) == {"": 3, "2026.11": 1, "2026.12": 1}


def test_signup_to_live_and_stage_histograms(client: FlaskClient, store: Store) -> None:
    empty = scrape(client)
    assert empty[("gitops_bot_signup_to_live_seconds_count", ())] == 0
    for status in ("accepted", "committed", "deploying", "deployed", "live"):
        store.add_transition("t-fast", status)
    for status in ("accepted", "committed", "evaluated"):
        store.add_transition("t-local", status)
    samples = scrape(client)
    assert samples[("gitops_bot_signup_to_live_seconds_count", ())] == 1
    assert samples[("gitops_bot_signup_to_live_seconds_bucket", (("le", "5.0"),))] == 1
    assert samples[("gitops_bot_signup_to_live_seconds_bucket", (("le", "+Inf"),))] == 1
    stage = "gitops_bot_stage_seconds_count"
    assert samples[(stage, (("stage", "committed"),))] == 2
    assert samples[(stage, (("stage", "deploying"),))] == 1
    assert samples[(stage, (("stage", "live"),))] == 1
    bucket = "gitops_bot_stage_seconds_bucket"
    assert samples[(bucket, (("le", "3600.0"), ("stage", "deployed")))] == 1
    # Running totals, not a reading of history: with the history gone they stay.
    with store.transaction() as db:
        db.execute("DELETE FROM transitions")

    def timeline(found: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[object]:
        names = ("gitops_bot_signup_to_live_seconds", "gitops_bot_stage_seconds")
        return {item for item in found.items() if item[0][0].startswith(names)}

    assert len(timeline(samples)) == 12 + 4 * 12
    assert timeline(scrape(client)) == timeline(samples)
