"""Outgoing notifications against a real HTTP receiver that checks every signature."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from gitops_bot.config import Settings
from gitops_bot.intake.notify import Notifier
from gitops_bot.server.app import create_app
from gitops_bot.store import errorlog, outbox
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import post_event, running_bot, signed_headers, signup

NOTIFY_SECRET = "whsec_bm90aWZ5LXNlY3JldC1mb3ItdGVzdHMtMDEyMw=="


@dataclass
class Receiver:
    """The landing page's side: verifies with the reference library, fails on request."""

    secret: str
    fail_first: int = 0
    attempts: list[str] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bad_signatures: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        body = request.get_data(as_text=True)
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            with self._lock:
                self.bad_signatures += 1
            return Response("bad signature", status=401)(environ, start_response)
        with self._lock:
            self.attempts.append(request.headers["webhook-id"])
            if len(self.attempts) <= self.fail_first:
                return Response("not now", status=503)(environ, start_response)
            self.accepted.append((request.headers["webhook-id"], payload))
        return Response("ok")(environ, start_response)

    def statuses(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for _id, payload in self.accepted:
            result.setdefault(payload["data"]["slug"], []).append(payload["data"]["status"])
        return result


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiving = Receiver(NOTIFY_SECRET)
    server = make_server("127.0.0.1", 0, receiving, threaded=True)
    receiving.url = f"http://127.0.0.1:{server.server_port}/hooks/gitops"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiving
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def notify_settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(
        update={"notify_url": receiver.url, "notify_secret": SecretStr(NOTIFY_SECRET)}
    )


@pytest.fixture
def notifying_client(notify_settings: Settings, state_repo: Path) -> FlaskClient:
    """Intake with notifications on: the app turns the outbox on, as the worker does."""
    return create_app(notify_settings).test_client()


def notifier(settings: Settings, **options: Any) -> Notifier:
    defaults: dict[str, Any] = {"base_delay": 0.01, "max_delay": 0.05, "poll": 0.01}
    return Notifier(
        database=settings.database_path,
        url=str(settings.notify_url),
        secret=NOTIFY_SECRET,
        synchronous="NORMAL",
        **{**defaults, **options},
    )


def open_messages(store: Store) -> int:
    return int(
        store.connection.execute(
            "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL"
        ).fetchone()[0]
    )


def run_until_settled(running: Notifier, store: Store, timeout: float = 20) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=running.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while open_messages(store) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert open_messages(store) == 0


def provision(client: FlaskClient, writer: Writer, slugs: list[str]) -> None:
    """Signups committed, then the first one suspended: three transitions for it."""
    for slug in slugs:
        assert post_event(client, signup(slug)).status_code == 202
    writer.drain_once()
    suspend = {
        "type": "tenant.suspend",
        "timestamp": "2026-11-24T12:00:00Z",
        "data": {"slug": slugs[0], "reason": "unpaid"},
    }
    assert post_event(client, suspend).status_code == 202
    writer.drain_once()


def test_every_transition_arrives_once_signed_and_in_order(
    notifying_client: FlaskClient,
    notify_settings: Settings,
    writer: Writer,
    store: Store,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 3
    slugs = ["n-one", "n-two", "n-three"]
    provision(notifying_client, writer, slugs)
    run_until_settled(notifier(notify_settings), store)
    ids = [message_id for message_id, _ in receiver.accepted]
    assert len(ids) == len(set(ids)) == 7  # 3 accepted, 3 committed, 1 suspended
    assert receiver.bad_signatures == 0
    assert len(receiver.attempts) == 10
    for slug in slugs:
        assert receiver.statuses()[slug] == [t["status"] for t in store.transitions(slug)]
    committed = next(p for _, p in receiver.accepted if p["data"]["status"] == "committed")
    assert committed["type"] == "tenant.status"
    assert set(committed["data"]) == {"slug", "status", "at", "commitSha"}
    suspended = next(p for _, p in receiver.accepted if p["data"]["status"] == "suspended")
    assert suspended["data"]["at"].endswith("Z")


def test_a_new_notifier_carries_on_where_the_last_one_stopped(
    notifying_client: FlaskClient,
    notify_settings: Settings,
    writer: Writer,
    store: Store,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    provision(notifying_client, writer, ["r-one", "r-two"])
    first = notifier(notify_settings)
    # One round: r-one's and r-two's first messages fail, nothing else may overtake them.
    with Store(notify_settings.database_path) as own:
        assert first.deliver_due(own) == 2
    assert receiver.accepted == []
    time.sleep(0.06)
    with Store(notify_settings.database_path) as own:
        first.deliver_due(own)
    assert len(receiver.accepted) == 2
    # The process dies here; a new one, sharing nothing but the database, finishes.
    run_until_settled(notifier(notify_settings), store)
    ids = [message_id for message_id, _ in receiver.accepted]
    assert len(ids) == len(set(ids)) == 5
    assert receiver.statuses() == {
        "r-one": ["accepted", "committed", "suspended"],
        "r-two": ["accepted", "committed"],
    }


def test_gives_up_after_the_last_attempt_and_says_why(
    notifying_client: FlaskClient,
    notify_settings: Settings,
    store: Store,
    receiver: Receiver,
) -> None:
    receiver.fail_first = 1000
    assert post_event(notifying_client, signup("g-one")).status_code == 202
    run_until_settled(notifier(notify_settings, attempts=3), store)
    assert len(receiver.attempts) == 3
    assert len(set(receiver.attempts)) == 1  # the same message, three times
    row = store.connection.execute(
        "SELECT attempts, last_error, given_up_at FROM outbox WHERE slug = 'g-one'"
    ).fetchone()
    assert row[0] == 3
    assert row[1] == "HTTP 503"
    assert row[2] is not None
    [error] = errorlog.recent(store)
    assert error.source == "notify"
    assert "g-one" in error.message
    assert "HTTP 503" in error.message


def test_backoff_doubles_with_jitter_up_to_the_cap(notify_settings: Settings) -> None:
    backing = notifier(notify_settings, base_delay=2.0, max_delay=600.0, rng=random.Random(7))
    for attempt in range(1, 15):
        ceiling = min(600.0, 2.0 * 2 ** (attempt - 1))
        delays = {backing._delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(delays) > 1  # jittered, so retries of many messages spread out


def test_without_a_notify_url_nothing_is_queued(
    client: FlaskClient, writer: Writer, store: Store
) -> None:
    assert post_event(client, signup("quiet")).status_code == 202
    writer.drain_once()
    assert not outbox.enabled(store.connection)
    assert store.connection.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_demo_mode_generates_a_notify_secret_only_when_needed(tmp_path: Path) -> None:
    plain = Settings(demo=True, state_dir=tmp_path).require_secrets()
    assert plain.notify_secret is None
    notifying = Settings(
        demo=True, state_dir=tmp_path, notify_url="https://landing.example/hooks"
    ).require_secrets()
    assert notifying.notify_secret is not None
    assert notifying.notify_secret.get_secret_value().startswith("whsec_")


@pytest.mark.slow
def test_serve_delivers_from_the_worker_process(
    settings: Settings, tmp_path: Path, receiver: Receiver
) -> None:
    secret_file = tmp_path / "notify-secret"
    secret_file.write_text(NOTIFY_SECRET)
    env = {"GITOPS_BOT_NOTIFY_URL": receiver.url, "GITOPS_BOT_NOTIFY_SECRET_FILE": str(secret_file)}
    with running_bot(settings, tmp_path, **env) as server:
        body = json.dumps(signup("from-serve")).encode()
        request = urllib.request.Request(
            f"{server.url}/v1/events", data=body, headers=signed_headers(body), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        deadline = time.monotonic() + 30
        while len(receiver.statuses().get("from-serve", [])) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    # Local mode may go on to "evaluated", for the seeded tenants too.
    assert receiver.statuses()["from-serve"][:2] == ["accepted", "committed"]
    assert receiver.bad_signatures == 0
    assert NOTIFY_SECRET.removeprefix("whsec_") not in server.log.read_text()


def test_a_rollouts_upgrade_arrives_after_the_live_it_follows(
    notifying_client: FlaskClient,
    notify_settings: Settings,
    writer: Writer,
    store: Store,
    receiver: Receiver,
) -> None:
    assert post_event(notifying_client, signup("n-up")).status_code == 202
    writer.drain_once()
    receiver.fail_first = 1  # the `accepted` message fails once: everything after waits
    with store.transaction() as db:
        store.add_transition("n-up", "live")
        outbox.enqueue_upgraded(
            db, key=7, slug="n-up", release="2026.12", previous=None, rollout_id=3, at=time.time()
        )
        # The same rollout tenant again (a round repeated after a crash): one message.
        outbox.enqueue_upgraded(
            db, key=7, slug="n-up", release="2026.12", previous=None, rollout_id=3, at=time.time()
        )
    run_until_settled(notifier(notify_settings), store)
    kinds = [(p["type"], p["data"].get("status")) for _, p in receiver.accepted]
    assert kinds == [
        ("tenant.status", "accepted"),
        ("tenant.status", "committed"),
        ("tenant.status", "live"),
        ("tenant.upgraded", None),
    ]
    message_id, upgraded = receiver.accepted[-1]
    assert message_id == "tup_7"
    assert set(upgraded["data"]) == {"slug", "release", "at", "rollout"}
    assert (upgraded["data"]["slug"], upgraded["data"]["release"]) == ("n-up", "2026.12")
