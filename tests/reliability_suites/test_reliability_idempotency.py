"""Suite 1, idempotency: every event delivered three times, shuffled and concurrently.

Signups (requested slugs, slugs derived from one shared organization name, custom
domains, two events racing for one slug) and then lifecycle events (suspend,
update, delete through review, resume) go to `gitops-bot serve` over real HTTP.
Each delivery of an event must hear the same answer, and each accepted event must
change the state repo exactly once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from helpers import Server, change, signup, tenant_files
from reliability import (
    assert_signups_landed_once,
    event_trailers,
    record_figures,
    soak_scale,
)
from served import DRAIN_DEADLINE, Delivery, Sender, pending_count, wait_until

pytestmark = pytest.mark.slow

DELIVERIES = 3
CLIENTS = 16


def deliver_each_three_times(
    server: Server, events: list[tuple[str, dict[str, Any]]], rng: random.Random
) -> dict[str, list[Delivery]]:
    """Send every (id, payload) three times, in one shuffled order, from concurrent clients."""
    copies = [event for event in events for _ in range(DELIVERIES)]
    rng.shuffle(copies)

    def client(share: list[tuple[str, dict[str, Any]]]) -> list[Delivery]:
        sender = Sender(server.port)
        try:
            return [sender.post(payload, event_id) for event_id, payload in share]
        finally:
            sender.close()

    shares = [copies[first::CLIENTS] for first in range(CLIENTS)]
    answers: dict[str, list[Delivery]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        for share in pool.map(client, shares):
            for delivery in share:
                answers[delivery.event_id].append(delivery)
    return answers


def assert_same_answers(answers: dict[str, list[Delivery]]) -> dict[str, Delivery]:
    """Every delivery of an event heard the very same status and body; the first of each."""
    for event_id, deliveries in answers.items():
        assert len(deliveries) == DELIVERIES
        heard = {(d.status, tuple(sorted(d.body.items()))) for d in deliveries}
        assert len(heard) == 1, f"{event_id} heard different answers: {heard}"
        assert all(d.status < 500 for d in deliveries), deliveries
    return {event_id: deliveries[0] for event_id, deliveries in answers.items()}


def signups(count: int) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for n in range(count):
        if n % 5 == 0:
            # Twenty events derive their slug from one name: each must keep its own. (Intake
            # numbers a derived slug up to 99 times, then asks for data.slug.)
            payload = signup(None, organization=f"Idem Potent Ltd {n // 100}")
        elif n % 5 == 1:
            payload = signup(f"idem-{n:04d}", domain=f"shop-{n}.idem.example")
        else:
            payload = signup(f"idem-{n:04d}", plan=("free", "pro", "enterprise")[n % 3])
        events.append((f"msg_signup_{n:04d}", payload))
    # Two events that want one slug: one wins, the other hears 409 on every delivery.
    events += [("msg_race_a", signup("idem-race")), ("msg_race_b", signup("idem-race"))]
    return events


def lifecycle(plans: dict[str, str]) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """One real change per tenant (slug -> plan), of four kinds; and the slugs suspended."""
    events, suspended = [], []
    for n, slug in enumerate(sorted(plans)):
        kind = n % 4
        if kind == 0:
            events.append((f"msg_suspend_{slug}", change("tenant.suspend", slug, reason="unpaid")))
            suspended.append(slug)
        elif kind == 1:
            plan = "free" if plans[slug] != "free" else "pro"
            events.append((f"msg_plan_{slug}", change("tenant.update", slug, plan=plan)))
        elif kind == 2:
            domains = [f"{slug}.custom.example", f"www.{slug}.custom.example"]
            events.append((f"msg_domains_{slug}", change("tenant.update", slug, domains=domains)))
        else:
            events.append((f"msg_delete_{slug}", change("tenant.delete", slug, reason="churned")))
    # An event about a tenant that does not exist hears 404 each time, and changes nothing.
    events.append(("msg_ghost", change("tenant.suspend", "idem-ghost", reason="x")))
    return events, suspended


def run_idempotency(server: Server, tmp_path: Path, count: int, *, soak: bool) -> None:
    rng = random.Random(1007)
    database = Path(server.env["GITOPS_BOT_STATE_DIR"]) / "gitops-bot.sqlite3"

    def drained() -> None:
        wait_until(lambda: pending_count(database) == 0, DRAIN_DEADLINE, "the writer to drain")

    sent = signups(count)
    first = assert_same_answers(deliver_each_three_times(server, sent, rng))
    accepted = {i: str(d.body["slug"]) for i, d in first.items() if d.status == 202}
    assert len(accepted) == count + 1  # every signup, and one of the two racers
    assert {first["msg_race_a"].status, first["msg_race_b"].status} == {202, 409}
    derived = sorted(slug for slug in accepted.values() if slug.startswith("idem-potent-ltd"))
    assert len(derived) == len(set(derived)) == len(range(0, count, 5))
    drained()
    assert_signups_landed_once(server.remote, accepted, tmp_path / "signups")

    plans = {accepted[i]: str(p["data"]["plan"]) for i, p in sent if i in accepted}
    changes, suspended = lifecycle(plans)
    changed = assert_same_answers(deliver_each_three_times(server, changes, rng))
    assert changed.pop("msg_ghost").status == 404
    assert {d.status for d in changed.values()} == {202}
    drained()
    resumes = [(f"msg_resume_{slug}", change("tenant.resume", slug)) for slug in suspended]
    resumed = assert_same_answers(deliver_each_three_times(server, resumes, rng))
    assert {d.status for d in resumed.values()} == {202}
    drained()

    trailers = event_trailers(server.remote)  # main and every review branch
    every = [*accepted, *changed, *resumed]
    assert {event_id: trailers[event_id] for event_id in every} == dict.fromkeys(every, 1)
    assert "msg_ghost" not in trailers
    assert "msg_race_a" in trailers or "msg_race_b" in trailers
    files = tenant_files(server.remote)
    for event_id in changed:
        slug = event_id.split("_", 2)[2]
        if event_id.startswith("msg_plan_"):
            assert files[slug]["plan"] != plans[slug]
        elif event_id.startswith("msg_domains_"):
            # New domains wait for their DNS proof; together they are the two asked for.
            assert len(files[slug]["domains"]) + len(files[slug].get("pendingDomains", [])) == 2
        elif event_id.startswith("msg_delete_"):
            assert slug not in tenant_files(server.remote, f"tenant/{slug}")
        else:
            assert files[slug]["state"] == "active"  # suspended, then resumed
    verdict = assert_signups_landed_once(server.remote, accepted, tmp_path / "end")
    deliveries = DELIVERIES * (len(first) + len(changes) + len(resumes))
    record_figures(
        "idempotency",
        __file__,
        soak=soak,
        events=len(first) + len(changes) + len(resumes),
        deliveries=deliveries,
        clients=CLIENTS,
        accepted=len(every),
        tenant_files=verdict.tenants - 3,
        lost=verdict.lost,
        duplicated=verdict.duplicated,
        answers_that_differed=0,
    )


def test_every_event_three_times_concurrently_changes_the_repo_once(
    server: Server, tmp_path: Path
) -> None:
    run_idempotency(server, tmp_path, 100, soak=False)


@pytest.mark.soak
def test_soak_idempotency(server: Server, tmp_path: Path) -> None:
    run_idempotency(server, tmp_path, 100 * soak_scale(), soak=True)
