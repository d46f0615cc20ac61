"""Suite 8, resource limits: what a sender can make the bot hold is bounded.

The body limit is enforced before the body is read (a declared length over it is
refused at once, whether or not the body ever comes), and the queue stops growing at
GITOPS_BOT_MAX_QUEUE: past it, every event hears a 503 with Retry-After and nothing is
stored, so a flood costs neither disk nor memory, and the refused events are welcome
again once the writer has caught up.
"""

from __future__ import annotations

import io
import json
import socket
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import EnvironBuilder
from werkzeug.test import run_wsgi_app

from gitops_bot.config import Settings
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import change, free_port, repo_for, signed_headers, signup
from hygiene import assert_history_clean
from reliability import record_figures
from served import Delivery, Sender, bot_env, closing_db, start_serve, wait_ready

LIMIT = 64 * 1024


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, _buffer: object) -> int:
        raise AssertionError("the body was read although its declared length is over the limit")


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    app: Flask, store: Store
) -> None:
    environ = EnvironBuilder(
        app, "/v1/events", method="POST", headers=signed_headers(b"{}"), data=b"{}"
    ).get_environ()
    environ["wsgi.input"] = io.BufferedReader(Untouchable())
    environ["CONTENT_LENGTH"] = str(10**9)
    body, status, _headers = run_wsgi_app(app, environ)
    assert status.startswith("413")
    assert json.loads(b"".join(body))["field"] == "body"
    assert store.pending_count() == 0


@pytest.mark.slow
def test_over_http_the_413_comes_before_the_body_is_sent(server: object) -> None:
    """A sender that declares 100 MB and sends nothing hears 413 at once, not after a wait."""
    port = server.port  # type: ignore[attr-defined]
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\n"
        + b"".join(f"{k}: {v}\r\n".encode() for k, v in signed_headers(b"{}").items())
        + b"Content-Length: 100000000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head)  # and not one byte of the body
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413", status_line


@pytest.fixture
def web_without_writer(settings: Settings, state_repo: Path, tmp_path: Path) -> Iterator[int]:
    """`gitops-bot serve --no-writer` with a queue of 50, on a port; nothing drains it."""
    env = bot_env(settings, tmp_path, GITOPS_BOT_MAX_QUEUE="50")
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = start_serve(env, port, log, writer=False)
        try:
            wait_ready(f"http://127.0.0.1:{port}", process, log_path)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=60)


def flood(port: int, payloads: list[tuple[str, dict[str, object]]]) -> list[Delivery]:
    def client(share: list[tuple[str, dict[str, object]]]) -> list[Delivery]:
        sender = Sender(port)
        try:
            return [sender.post(payload, event_id) for event_id, payload in share]
        finally:
            sender.close()

    with ThreadPoolExecutor(max_workers=32) as pool:
        return [
            d for share in pool.map(client, [payloads[n::32] for n in range(32)]) for d in share
        ]


@pytest.mark.slow
def test_a_full_queue_answers_503_with_retry_after_and_stores_nothing_more(
    web_without_writer: int, settings: Settings, store: Store
) -> None:
    events = [(f"msg_flood_{n:03d}", signup(f"flood-{n:03d}")) for n in range(200)]
    events += [(f"msg_flood_change_{n}", change("tenant.suspend", "acme")) for n in range(10)]
    first = flood(web_without_writer, events)
    statuses = Counter(d.status for d in first)
    assert statuses == {202: 50, 503: 160}, statuses
    refused = [d for d in first if d.status == 503]
    assert all(d.headers.get("retry-after", "").isdigit() for d in refused)
    assert all("queue is full" in str(d.body["error"]) for d in refused)
    with closing_db(settings.database_path) as db:
        stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert stored == 50  # a refused event leaves no row behind
    # Once the writer has caught up, the same ids are welcome (a 503 is not remembered).
    assert Writer(store=store, repo=repo_for(settings), settings=settings).drain_once() == 50
    retried = flood(web_without_writer, [(d.event_id, dict(events)[d.event_id]) for d in refused])
    assert Counter(d.status for d in retried)[202] == 50
    hygiene = assert_history_clean(settings.state_dir / "state.git")
    record_figures(
        "limits",
        __file__,
        soak=False,
        max_queue=50,
        flood_events=len(events),
        clients=32,
        accepted=statuses[202],
        refused_503_with_retry_after=len(refused),
        rows_stored_while_full=stored,
        accepted_again_after_drain=Counter(d.status for d in retried)[202],
        body_limit_bytes=LIMIT,
        history_commits_scanned=hygiene.commits,
    )


def test_a_full_queue_refuses_lifecycle_events_too(settings: Settings, state_repo: Path) -> None:
    from gitops_bot.server.app import create_app  # noqa: PLC0415

    client = create_app(settings.model_copy(update={"max_queue": 1})).test_client()
    body = json.dumps(signup("only-one")).encode()
    assert client.post("/v1/events", data=body, headers=signed_headers(body)).status_code == 202
    body = json.dumps(change("tenant.suspend", "acme")).encode()
    answer = client.post("/v1/events", data=body, headers=signed_headers(body))
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
