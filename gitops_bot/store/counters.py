"""Counters that several processes add to, kept in SQLite so that /metrics sees their sum.

Web workers, the writer and the GitHub backend run in separate processes; a counter in
one process's memory would be seen only by the scrapes that happen to reach it. The
`counters` table is their common total.

For the GitHub backend (the writer's process), once per process::

    counters = Counters(settings.database_path)
    counters.record_github_request("read")      # each REST or GraphQL call
    counters.record_rate_limit_wait(12.5)       # each time the governor sleeps

`kind` is a small fixed vocabulary ("read", "write", "graphql"), never a URL or an id:
every distinct value is a time series kept forever.

Other rows are running totals of the queue's own tables (events accepted, the queue's
depth, transitions, deploy outcomes, tenants per status, notifications), added by the
triggers of schema.sql in the transaction of the row they count: /metrics reads them
with `read` and `total` instead of scanning history at every scrape.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)


def labels_key(labels: dict[str, str]) -> str:
    """The canonical JSON object a row's labels are stored as."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def add(db: sqlite3.Connection, name: str, amount: float = 1.0, **labels: str) -> None:
    """Add to a counter on `db`, inside whatever transaction it is in."""
    db.execute(
        "INSERT INTO counters (name, labels, value) VALUES (?, ?, ?)"
        " ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value",
        (name, labels_key(labels), amount),
    )


def read(db: sqlite3.Connection, name: str) -> list[tuple[dict[str, str], float]]:
    """Every series of counter `name`, as (labels, value)."""
    rows = db.execute("SELECT labels, value FROM counters WHERE name = ?", (name,))
    return [(json.loads(labels), float(value)) for labels, value in rows]


def cumulative(per_bucket: Mapping[str, float], bounds: Iterable[str]) -> list[tuple[str, float]]:
    """Prometheus's cumulative buckets, `+Inf` last, from counts kept one bucket each.

    A histogram's observations are added to the one bucket they fall in (so a trigger or a
    transaction touches one row), and summed up here at scrape time.
    """
    buckets, running = [], 0.0
    for bound in [*bounds, "+Inf"]:
        running += per_bucket.get(bound, 0.0)
        buckets.append((bound, running))
    return buckets


def total(db: sqlite3.Connection, name: str, **labels: str) -> float:
    """One series of counter `name`; 0 when nothing was ever added to it."""
    row = db.execute(
        "SELECT value FROM counters WHERE name = ? AND labels = ?", (name, labels_key(labels))
    ).fetchone()
    return 0.0 if row is None else float(row[0])


class Counters:
    """One process's door to the shared counters; safe to use from several threads.

    The connection is opened on first use, by the process that uses it (so never
    inherited across a fork), and with synchronous=NORMAL: a counter is not worth an
    fsync, and refused requests must not turn into disk flushes an attacker can cause.
    """

    def __init__(self, database: Path) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0

    def add(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add `amount`; a metric is never worth failing the caller, so errors are logged."""
        try:
            with self._lock:
                add(self._connection(), name, amount, **labels)
        except sqlite3.Error as problem:
            log.warning("counter %s not recorded: %s", name, problem)

    def record_refusal(self, reason: str) -> None:
        self.add("intake_rejected", reason=reason)

    def record_github_request(self, kind: str) -> None:
        self.add("github_requests", kind=kind)

    def record_rate_limit_wait(self, seconds: float) -> None:
        self.add("github_rate_limit_waits")
        self.add("github_rate_limit_wait_seconds", seconds)

    def _connection(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():
            self._db = sqlite3.connect(
                self._database, isolation_level=None, timeout=5.0, check_same_thread=False
            )
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._pid = os.getpid()
            # Apps come and go in tests; their connections go with them.
            weakref.finalize(self, _close_in, self._db, self._pid)
        return self._db


def _close_in(db: sqlite3.Connection, pid: int) -> None:
    # Only the process that opened it: closing SQLite handles inherited across a fork can
    # release the parent's locks.
    if os.getpid() == pid:
        db.close()
