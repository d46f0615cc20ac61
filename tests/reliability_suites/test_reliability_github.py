"""Suite 4, GitHub faults: a fifth of the fake GitHub's answers go wrong, and nothing is lost.

The writer runs the GitHub backend against tests/fakegithub while the fake fails about
a fifth of all calls: 5xx answers (some after GitHub did the work, the answer lost on
the way back), secondary rate limits with Retry-After (403 and 429), ref updates that
are not fast-forwards because another writer pushed first, and reads that lag a write.
Signups go straight to main (free, pro) or through a pull request (enterprise); direct
tenants are suspended afterwards. Every tenant must land exactly once, every reviewed
one in exactly one pull request, and the bot must never trip a limit itself.

The governor waits on the fake's clock (FakeGitHubClock), so Retry-After costs no time.
"""

from __future__ import annotations

from collections import Counter

import pytest
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.base import BackendError
from gitops_bot.store.queue import Store
from gitops_bot.writer.messages import TRAILER
from gitops_bot.writer.writer import BranchBroken, Writer
from helpers import GITHUB_WEBHOOK_SECRET, change, post_event, signup, with_capacity
from hygiene import assert_history_clean
from reliability import record_figures, soak_scale

pytestmark = pytest.mark.slow

WAVE = 20
PLANS = ("free", "pro", "enterprise")  # enterprise goes through review (github_settings)


def event_trailers(gh: FakeGitHub, ref: str) -> Counter[str]:
    return Counter(
        line.removeprefix(f"{TRAILER}: ").strip()
        for message in gh.commit_messages(ref)
        for line in message.splitlines()
        if line.startswith(f"{TRAILER}: ")
    )


def drain(writer: Writer, store: Store) -> int:
    """Drain as `gitops-bot worker` does: a round that fails is tried again; the errors seen."""
    errors = 0
    for _ in range(500):
        if not store.pending_count():
            return errors
        try:
            writer.drain_once()
        except (BackendError, BranchBroken):
            errors += 1  # the worker backs off and tries again; here the clock is the fake's
    raise AssertionError(f"{store.pending_count()} events still pending after 500 rounds")


def inject_faults(fleet: FakeGitHub) -> None:
    """About one call in five goes wrong, in every way the fake knows (stale reads: per wave)."""
    fleet.faults.reseed(2026)
    fleet.faults.fail_randomly(0.07, status=502)
    fleet.faults.fail_randomly(0.03, status=500)
    fleet.faults.fail_randomly(0.04, status=503, applied=True)  # done, but the answer is lost
    fleet.faults.secondary_limit_randomly(0.05, status=403, retry_after=60)
    fleet.faults.secondary_limit_randomly(0.04, status=429, retry_after=20)
    fleet.faults.concurrent_push_randomly(0.5)  # of ref updates: another writer got there first


def fault_counts(fleet: FakeGitHub) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for rule in fleet.faults.rules:
        name = rule.kind
        if rule.kind in {"status", "secondary_limit"}:
            name = f"{rule.status}{' after doing the work' if rule.applied else ''}"
            name = f"secondary limit {name}" if rule.kind == "secondary_limit" else name
        counts[name.replace("_", " ")] += rule.fired
    return dict(sorted(counts.items()))


def run_github_faults(
    fleet: FakeGitHub,
    intake: FlaskClient,
    writer: Writer,
    store: Store,
    count: int,
    *,
    soak: bool,
) -> None:
    inventory = fleet.read_file("nix/inventory.json")
    assert inventory is not None
    fleet.push_foreign_commit("main", {"nix/inventory.json": with_capacity(inventory, 100_000)})
    writer.head()
    requests_before = len(fleet.requests)
    inject_faults(fleet)

    signups: dict[str, tuple[str, str]] = {}  # event id -> (slug, plan)
    drain_errors = 0
    for first in range(0, count, WAVE):
        fleet.faults.stale_read_next(1)  # a read of main that lags our last write
        for n in range(first, min(first + WAVE, count)):
            slug, plan = f"gh-{n:05d}", PLANS[n % len(PLANS)]
            answer = post_event(intake, signup(slug, plan=plan), f"msg_gh_{n:05d}")
            assert answer.status_code == 202, answer.json
            signups[f"msg_gh_{n:05d}"] = (slug, plan)
        drain_errors += drain(writer, store)
    direct = {i: slug for i, (slug, plan) in signups.items() if plan != "enterprise"}
    suspends = {f"msg_suspend_{slug}": slug for slug in sorted(direct.values())[::4]}
    for event_id, slug in suspends.items():
        answer = post_event(intake, change("tenant.suspend", slug, reason="unpaid"), event_id)
        assert answer.status_code == 202, answer.json
    drain_errors += drain(writer, store)

    on_main = event_trailers(fleet, "main")
    files = {
        path.removeprefix("tenants/").removesuffix(".json")
        for path in fleet.files("main")
        if path.startswith("tenants/")
    }
    lost = [i for i, slug in direct.items() if on_main[i] == 0 or slug not in files]
    lost += [i for i in suspends if on_main[i] == 0]
    doubled = [i for i in [*direct, *suspends] if on_main[i] > 1]
    reviewed = {i: slug for i, (slug, plan) in signups.items() if plan == "enterprise"}
    pulls = Counter(pull.head_ref for pull in fleet.pulls)
    for event_id, slug in reviewed.items():
        on_branch = event_trailers(fleet, f"tenant/{slug}")[event_id]
        if on_branch == 0 or pulls[f"tenant/{slug}"] == 0:
            lost.append(event_id)
        if on_branch > 1 or pulls[f"tenant/{slug}"] > 1:
            doubled.append(event_id)
    assert not lost, f"{len(lost)} events did not land: {lost[:10]}"
    assert not doubled, f"{len(doubled)} events landed twice: {doubled[:10]}"
    assert not any(slug in files for slug in reviewed.values())  # still in review
    failed = [t for slug, _ in signups.values() for t in store.transitions(slug)]
    assert not [t for t in failed if t["status"] == "failed"]

    calls = fleet.requests[requests_before:]
    injected = fault_counts(fleet)
    limited_by_us = [r for r in calls if r.status in {403, 429} and r.fault is None]
    assert fleet.violations == [], fleet.violations[:3]
    assert limited_by_us == [], limited_by_us[:3]
    assert fleet.internal_errors == []
    assert sum(injected.values()) >= len(calls) // 6, (injected, len(calls))
    hygiene = assert_history_clean(
        fleet.repo_path, secrets=(fleet.token, GITHUB_WEBHOOK_SECRET), bot=f"{fleet.login} <"
    )
    assert hygiene.bot_commits > 0
    record_figures(
        "github-faults",
        __file__,
        soak=soak,
        signups=len(signups),
        direct=len(direct),
        through_pull_requests=len(reviewed),
        suspends=len(suspends),
        github_calls=len(calls),
        faults_injected=injected,
        share_of_calls_faulted=round(sum(injected.values()) / len(calls), 3),
        drain_rounds_that_failed_and_were_retried=drain_errors,
        lost=len(lost),
        duplicated=len(doubled),
        secondary_limit_violations=len(fleet.violations),
        limits_tripped_by_the_bot=len(limited_by_us),
        history_commits_scanned=hygiene.commits,
        bot_commits_checked_to_touch_only_tenants=hygiene.bot_commits,
    )


def test_a_fifth_of_github_failing_loses_and_doubles_nothing(
    fleet: FakeGitHub,
    github_intake: FlaskClient,
    github_writer: Writer,
    github_store: Store,
) -> None:
    run_github_faults(fleet, github_intake, github_writer, github_store, 150, soak=False)


@pytest.mark.soak
def test_soak_github_faults(
    fleet: FakeGitHub, github_intake: FlaskClient, github_writer: Writer, github_store: Store
) -> None:
    count = 150 * soak_scale()
    run_github_faults(fleet, github_intake, github_writer, github_store, count, soak=True)
