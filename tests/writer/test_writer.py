"""The writer: group commits, the checker's veto, push races and crashes, on real git."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.contract.tenant import canonical_json
from gitops_bot.store import errorlog
from gitops_bot.store.queue import Store
from gitops_bot.writer.messages import TRAILER
from gitops_bot.writer.writer import BranchBroken, Writer
from helpers import (
    ADMIN_TOKEN,
    change,
    git,
    lost_database,
    post_event,
    push_by_hand,
    repo_for,
    signup,
    tenant_files,
)


def trailers(remote: Path) -> list[str]:
    log = git(remote, "log", f"--format=%(trailers:key={TRAILER},valueonly)", "main")
    return [line for line in log.split() if line]


def test_pending_events_share_one_commit(
    client: FlaskClient, writer: Writer, state_repo: Path
) -> None:
    ids = [post_event(client, signup(f"batch-{n}")).json["slug"] for n in range(5)]
    before = int(git(state_repo, "rev-list", "--count", "main"))
    assert writer.drain_once() == 5
    assert int(git(state_repo, "rev-list", "--count", "main")) == before + 1
    files = tenant_files(state_repo)
    assert set(ids) <= set(files)
    message = git(state_repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("Add 5 tenants: batch-0, batch-1, batch-2, batch-3, batch-4")
    assert len(trailers(state_repo)) == 5
    assert writer.drain_once() == 0


def test_two_suspends_in_one_batch_are_both_recorded_at_the_commit_that_suspended(
    client: FlaskClient, writer: Writer, store: Store, state_repo: Path
) -> None:
    post_event(client, signup("twice", plan="pro"))
    writer.drain_once()
    active_at = git(state_repo, "rev-parse", "main").strip()
    for event_id in ("msg_suspend_1", "msg_suspend_2"):
        post_event(client, change("tenant.suspend", "twice", reason=event_id), event_id=event_id)
    assert writer.drain_once() == 2
    suspended_at = git(state_repo, "rev-parse", "main").strip()
    assert git(state_repo, "rev-parse", "main~1").strip() == active_at
    assert tenant_files(state_repo)["twice"]["state"] == "suspended"
    # The second changes nothing, but it is true from the first's commit on, not before it.
    done = {
        t["event_id"]: t.get("commit_sha")
        for t in store.transitions("twice")
        if t["event_id"] in {"msg_suspend_1", "msg_suspend_2"}
    }
    assert done == {"msg_suspend_1": suspended_at, "msg_suspend_2": suspended_at}
    assert trailers(state_repo)[:2] == ["msg_suspend_1", "msg_suspend_2"]


def test_committed_file_is_canonical_and_holds_nothing_personal(
    client: FlaskClient, writer: Writer, state_repo: Path
) -> None:
    response = post_event(
        client,
        signup(
            None,
            organization="Jane Doe Consulting",
            customerRef="cus_42",
            domain="shop.jane.example",
        ),
    )
    writer.drain_once()
    slug = response.json["slug"]
    text = git(state_repo, "show", f"main:tenants/{slug}.json")
    data = json.loads(text)
    assert set(data) == {
        "$schema",
        "schemaVersion",
        "slug",
        "plan",
        "host",
        "state",
        "createdAt",
        "origin",
        "customerRef",
        "domains",
        "pendingDomains",
        "uid",
        "release",
    }
    assert "Jane" not in text
    assert "Doe" not in text
    assert data["customerRef"] == "cus_42"
    assert data["domains"] == []
    assert data["pendingDomains"] == ["shop.jane.example"]
    assert data["release"] == "2026.11"


def test_status_moves_to_committed(client: FlaskClient, writer: Writer, store: Store) -> None:
    post_event(client, signup("status-check"))
    writer.drain_once()
    assert [t["status"] for t in store.transitions("status-check")] == ["accepted", "committed"]
    assert store.transitions("status-check")[-1]["commit_sha"]


def test_push_race_against_another_writer(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    state_repo: Path,
    tmp_path: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    """Someone else pushes between our fetch and our push: we rebuild on their head."""
    post_event(client, signup("racer"))
    other = clone()
    real_commit = writer.repo.commit
    raced = []

    def commit_then_get_overtaken(parents, changes, message):  # type: ignore[no-untyped-def]
        sha = real_commit(parents, changes, message)
        if not raced:
            raced.append(push_by_hand(other, {"tenants/README.md": b"hand-written note\n"}))
        return sha

    writer.repo.commit = commit_then_get_overtaken  # type: ignore[method-assign]
    writer.drain_once()
    assert "racer" in tenant_files(state_repo)
    # Their commit survived: we built on top of it, without force.
    assert git(state_repo, "merge-base", "--is-ancestor", raced[0], "main") == ""
    assert git(state_repo, "show", "main:tenants/README.md") == "hand-written note\n"
    assert len(trailers(state_repo)) == 1


def test_slug_taken_by_a_hand_merged_change_fails_only_that_event(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    store: Store,
    state_repo: Path,
    tmp_path: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    post_event(client, signup("sniped"))
    post_event(client, signup("unharmed"))
    theirs = json.loads(git(state_repo, "show", "main:tenants/globex.json"))
    theirs.update(slug="sniped", origin="msg_by_hand", uid=0x70FFFFFF)
    push_by_hand(clone(), {"tenants/sniped.json": canonical_json(theirs).encode()})
    writer.drain_once()
    files = tenant_files(state_repo)
    assert files["sniped"]["origin"] == "msg_by_hand"
    assert "unharmed" in files
    assert store.transitions("sniped")[-1]["status"] == "failed"
    assert "exists" in store.transitions("sniped")[-1]["reason"]


def test_checker_refusal_fails_the_event_and_commits_the_rest(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    store: Store,
    state_repo: Path,
    tmp_path: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    """A domain claimed on the branch after intake: the checker vetoes just that tenant."""
    post_event(client, signup("late-domain", domain="shop.late.example"))
    post_event(client, signup("fine-tenant"))
    globex = json.loads(git(state_repo, "show", "main:tenants/globex.json"))
    globex["domains"] = ["shop.late.example"]
    push_by_hand(clone(), {"tenants/globex.json": canonical_json(globex).encode()})
    writer.drain_once()
    files = tenant_files(state_repo)
    assert "late-domain" not in files
    assert "fine-tenant" in files
    reason = store.transitions("late-domain")[-1]["reason"]
    assert "shop.late.example" in reason
    assert "globex" in reason
    # The slug is free again for a new signup.
    assert not store.slug_taken("late-domain")


def test_broken_branch_stops_the_writer(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    store: Store,
    tmp_path: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    post_event(client, signup("waiting"))
    push_by_hand(clone(), {"tenants/broken.json": b"{not json"})
    with pytest.raises(BranchBroken, match=r"broken\.json"):
        writer.drain_once()
    assert store.pending_count() == 1  # nothing lost, nothing committed on a broken tree


def test_a_paused_writer_tells_the_operator_why(
    client: FlaskClient, settings: Settings, store: Store, clone: Callable[..., LocalGitRepo]
) -> None:
    post_event(client, signup("stuck"))
    push_by_hand(clone(), {"tenants/broken.json": b"{not json"})
    stop = threading.Event()

    def run_writer() -> None:
        # sqlite3 connections belong to their thread: the loop opens its own, as a worker does.
        repo = repo_for(settings)
        with Store(settings.database_path) as own:
            Writer(store=own, repo=repo, settings=settings).run(stop)
        repo.close()

    running = threading.Thread(target=run_writer)
    running.start()
    deadline = time.monotonic() + 20
    while not errorlog.recent(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    running.join(timeout=20)
    [error] = errorlog.recent(store)
    assert error.source == "writer"
    assert "broken.json" in error.message
    assert (
        b"broken.json"
        in client.get("/admin", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).data
    )


def test_restart_after_push_settles_from_the_attempt(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    """Crash window: the push landed but the queue was not told. No second commit follows."""
    post_event(client, signup("crash-window"))
    real_advance = writer.repo.advance

    def push_then_die(branch: str, new: str) -> bool:
        real_advance(branch, new)
        raise SystemExit("killed after push")

    writer.repo.advance = push_then_die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        writer.drain_once()
    assert store.pending_count() == 1
    commits = git(state_repo, "rev-list", "--count", "main")
    restarted = Writer(
        store=store, repo=clone("writer.git", settings.remote_url), settings=settings
    )
    assert restarted.drain_once() == 1
    assert store.pending_count() == 0
    assert git(state_repo, "rev-list", "--count", "main") == commits
    assert store.transitions("crash-window")[-1]["status"] == "committed"


WORKER_SCRIPT = """
import sys
from gitops_bot.cli import main
sys.exit(main(["worker"]))
"""


@pytest.mark.slow
def test_kill_9_mid_batch_then_restart_commits_each_event_once(
    request: pytest.FixtureRequest,
    client: FlaskClient,
    settings: Settings,
    store: Store,
    state_repo: Path,
) -> None:
    # A slow post-receive hook holds the writer inside its push, after the ref moved:
    # the worst moment to die.
    hook = state_repo / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nsleep 0.3\n")
    hook.chmod(0o755)
    env = {
        **os.environ,
        "GITOPS_BOT_STATE_DIR": str(settings.state_dir),
        "GITOPS_BOT_SEED_DIR": str(settings.seed_dir),
        "GITOPS_BOT_POLL_INTERVAL": "0.01",
        "GITOPS_BOT_BATCH_LIMIT": "7",
    }
    accepted = []
    rng = random.Random(7)
    log = (settings.state_dir / "worker.log").open("ab")
    request.addfinalizer(log.close)
    for round_ in range(10):
        accepted += [
            post_event(client, signup(f"k{round_}-{n}")).json["slug"]
            for n in range(rng.randint(5, 15))
        ]
        worker = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT], env=env, stderr=log)
        time.sleep(rng.uniform(0.5, 1.5))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    worker = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT], env=env, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while store.pending_count() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.terminate()
        worker.wait()
    assert store.pending_count() == 0
    files = tenant_files(state_repo)
    assert set(accepted) <= set(files)
    events = trailers(state_repo)
    assert len(events) == len(set(events)) == len(accepted)
    subprocess.run(
        ["git", "--git-dir", str(state_repo), "fsck", "--strict"], check=True, capture_output=True
    )
    # The kills did land inside the push at least once: a restart found its commit there.
    assert b"landed before a restart" in (settings.state_dir / "worker.log").read_bytes()


def test_status_is_recovered_from_git_when_the_database_is_lost(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    post_event(client, signup("survivor"))
    writer.drain_once()
    added_in = git(state_repo, "log", "-1", "--format=%H", "main").strip()
    with lost_database(settings) as (fresh, store):
        Writer(store=store, repo=clone("fresh.git"), settings=fresh).head()
        recovered = store.transitions("survivor")
        assert [t["status"] for t in recovered] == ["committed"]
        assert recovered[0]["commit_sha"] == added_in
        assert store.slug_taken("survivor")


def test_local_mode_goes_no_further_than_evaluated(
    client: FlaskClient, writer: Writer, settings: Settings, store: Store
) -> None:
    from gitops_bot.nix.evaluation import LocalEvaluator  # noqa: PLC0415

    post_event(client, signup("evaluated-one"))
    writer.drain_once()
    head = store.synced_head()
    assert head is not None
    assert LocalEvaluator(settings.writer_clone).run(store, head) >= 1
    assert [t["status"] for t in store.transitions("evaluated-one")] == [
        "accepted",
        "committed",
        "evaluated",
    ]
    # Nothing deploys locally, so nothing ever claims "live".
    assert "live" not in {t["status"] for t in store.transitions("evaluated-one")}


def test_evaluation_runs_beside_the_writer_until_stopped(
    client: FlaskClient, writer: Writer, settings: Settings, store: Store
) -> None:
    from gitops_bot.nix.evaluation import LocalEvaluator  # noqa: PLC0415

    post_event(client, signup("beside"))
    writer.drain_once()
    stop = threading.Event()
    evaluating = threading.Thread(
        target=LocalEvaluator(settings.writer_clone).run_until, args=(stop, settings)
    )
    evaluating.start()
    try:
        deadline = time.monotonic() + 60
        while store.last_status("beside") != "evaluated" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        evaluating.join(timeout=60)
    assert store.last_status("beside") == "evaluated"
    assert not evaluating.is_alive()


def test_an_evaluator_that_fails_stops_the_worker_as_failed(
    client: FlaskClient, writer: Writer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_bot.nix.evaluation import LocalEvaluator  # noqa: PLC0415

    post_event(client, signup("doomed"))
    writer.drain_once()
    evaluator = LocalEvaluator(settings.writer_clone)

    def broken(*_args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(evaluator, "run", broken)
    stop = threading.Event()
    evaluator.run_until(stop, settings)  # returns once it has failed
    assert stop.is_set()  # the writer stops too ...
    assert evaluator.failed  # ... and the worker exits non-zero, so serve restarts it


def test_a_symlink_on_the_branch_is_refused_by_name(
    client: FlaskClient, writer: Writer, settings: Settings, store: Store, tmp_path: Path
) -> None:
    post_event(client, signup("waiting"))
    work = tmp_path / "by-hand"
    identity = ["-c", "user.name=someone", "-c", "user.email=someone@example.invalid"]
    subprocess.run(["git", "clone", "-q", str(settings.remote_url), str(work)], check=True)
    (work / "tenants" / "linked.json").symlink_to("/etc/hostname")
    for args in (["add", "-A"], ["commit", "-qm", "A link"], ["push", "-q", "origin", "HEAD"]):
        subprocess.run(["git", "-C", str(work), *identity, *args], check=True)
    # Nix ignores the link and the checker used to follow it: now neither counts it.
    with pytest.raises(BranchBroken, match=r"tenants/linked\.json: is a symlink"):
        writer.drain_once()
    assert store.pending_count() == 1
