"""The bot as separate processes (`serve --no-writer`, `worker`), and a sender that retries.

helpers.running_bot starts the whole bot at once; the crash and limits suites need its
parts one by one, to kill and restart each.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from gitops_bot.config import Settings
from helpers import ADMIN_TOKEN, SECRET, STATUS_TOKEN, sign

# Every wait in these suites is bounded, but generously: other test runs share the two cores.
STARTUP_DEADLINE = 60.0
DRAIN_DEADLINE = 180.0


def bot_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `gitops-bot` process sharing `settings`' state dir, secrets as files.

    The hosts get room for any load the suites send (the examples' 200 seats would not do).
    """
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(SECRET)
    token_file = tmp_path / "status-token"
    token_file.write_text(STATUS_TOKEN)
    admin_file = tmp_path / "admin-token"
    admin_file.write_text(ADMIN_TOKEN)
    inventory_path = settings.seed_dir / "nix/inventory.json"
    inventory = json.loads(inventory_path.read_text())
    for host in inventory["hosts"].values():
        host["capacity"] = 100_000
    inventory_path.write_text(json.dumps(inventory))
    return {
        **os.environ,
        "GITOPS_BOT_STATE_DIR": str(settings.state_dir),
        "GITOPS_BOT_SEED_DIR": str(settings.seed_dir),
        "GITOPS_BOT_WEBHOOK_SECRET_FILE": str(secret_file),
        "GITOPS_BOT_STATUS_TOKEN_FILE": str(token_file),
        "GITOPS_BOT_ADMIN_TOKEN_FILE": str(admin_file),
        "GITOPS_BOT_POLL_INTERVAL": "0.02",
        **extra,
    }


def start_serve(
    env: dict[str, str], port: int, log: BinaryIO, *, workers: int = 4, writer: bool = True
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "gitops_bot.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(workers)] + ([] if writer else ["--no-writer"])
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def start_worker(env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "gitops_bot.cli", "worker"]
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until GET /readyz answers 200 (the writer has read the state repo); fails with the log."""
    deadline = time.monotonic() + STARTUP_DEADLINE
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException):
            if time.monotonic() > deadline or process.poll() is not None:
                message = f"the bot did not get ready:\n{log_path.read_text(errors='replace')}"
                raise AssertionError(message) from None
            time.sleep(0.1)


def wait_until(done: Callable[[], bool], deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not done():
        if time.monotonic() > end:
            raise AssertionError(f"gave up after {deadline:.0f}s waiting for {what}")
        time.sleep(0.1)


def pending_count(database: Path) -> int:
    """Pending events, read the way an operator would, without the bot's code."""
    with closing_db(database) as db:
        return int(db.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0])


@contextmanager
def closing_db(database: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(database, timeout=30)
    try:
        yield db
    finally:
        db.close()


def integrity(database: Path) -> str:
    with closing_db(database) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


@dataclass(frozen=True)
class Delivery:
    """One event as a sender delivered it: its final answer, and how many attempts it took."""

    event_id: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    attempts: int


class Sender:
    """A landing page's backend: one keep-alive connection, every request signed afresh.

    A connection that breaks (a web worker killed mid-request, a restart) is retried
    with the same webhook-id, as the spec asks of a real sender, until `give_up_after`.
    """

    def __init__(self, port: int, *, give_up_after: float = 120.0) -> None:
        self.port = port
        self.give_up_after = give_up_after
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def post(self, payload: Any, event_id: str | None = None) -> Delivery:
        event_id = event_id or f"msg_{uuid.uuid4().hex}"
        body = json.dumps(payload).encode()
        deadline = time.monotonic() + self.give_up_after
        attempts = 0
        while True:
            attempts += 1
            try:
                status, answer, headers = self._once(event_id, body)
            except (OSError, http.client.HTTPException):
                self.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            return Delivery(event_id, status, answer, headers, attempts)

    def _once(self, event_id: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        timestamp = int(time.time())
        self._connection.request(
            "POST",
            "/v1/events",
            body=body,
            headers={
                "Content-Type": "application/json",
                "webhook-id": event_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(event_id, timestamp, body),
            },
        )
        response = self._connection.getresponse()
        raw = response.read()
        headers = {key.lower(): value for key, value in response.getheaders()}
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = {"unparsed": raw.decode(errors="replace")}  # a proxy's page, say; a failure
        return response.status, answer, headers
