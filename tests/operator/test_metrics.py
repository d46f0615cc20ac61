"""GET /metrics: computed from SQLite, so every process's work is in every scrape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from gitops_bot.config import Settings
from gitops_bot.server.app import create_app
from gitops_bot.store import rollouts
from gitops_bot.store.queue import Store
from gitops_bot.store.rollouts import PlannedTenant
from gitops_bot.writer.writer import Writer
from helpers import ADMIN_TOKEN, post_event, signed_headers, signup

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


def test_the_latest_rollouts_state_and_its_tenants(client: FlaskClient, store: Store) -> None:
    assert not [key for key in scrape(client) if key[0] == "gitops_bot_rollout_state"]
    with store.transaction() as db:
        rollout_id = rollouts.create(
            db,
            release="2026.12",
            waves="100%",
            soak=0,
            filters={},
            reason="test",
            plan=[[PlannedTenant(s, "web-1", "pro", None) for s in ("alpha", "bravo", "carol")]],
            now=0,
        )
        rollouts.set_tenant(db, rollout_id, "alpha", "live")
        rollouts.set_tenant(db, rollout_id, "bravo", "failed", reason="502")
        rollouts.move(db, rollout_id, "halted", allowed_from=("running",), now=1)
    samples = scrape(client)
    release = ("release", "2026.12")
    assert samples[("gitops_bot_rollout_state", (release, ("state", "halted")))] == 1
    assert samples[("gitops_bot_rollout_tenants", (release, ("state", "live")))] == 1
    assert samples[("gitops_bot_rollout_tenants", (release, ("state", "failed")))] == 1
    assert samples[("gitops_bot_rollout_tenants", (release, ("state", "planned")))] == 1
