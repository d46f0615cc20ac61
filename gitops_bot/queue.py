"""The durable queue: accepted events, slug reservations and tenant status, in one SQLite file."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

from gitops_bot.inventory import Inventory

EventStatus = Literal["pending", "done", "failed", "rejected"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    slug TEXT,
    delivery TEXT NOT NULL DEFAULT 'direct',
    body_sha256 TEXT NOT NULL,
    -- The tenant file to write, fixed at intake so that a retry writes the same bytes.
    content TEXT,
    answer_status INTEGER NOT NULL,
    answer_body TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    -- Write-ahead: the commit the writer is about to push, so a restart can tell
    -- whether the push happened before a crash.
    attempt_sha TEXT,
    commit_sha TEXT,
    received_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS events_pending ON events (seq) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS tenants (
    slug TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    plan TEXT NOT NULL,
    in_repo INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS domains (
    domain TEXT PRIMARY KEY,
    slug TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    status TEXT NOT NULL,
    at REAL NOT NULL,
    event_id TEXT,
    commit_sha TEXT,
    url TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS transitions_slug ON transitions (slug, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer to an event, stored so that a redelivery gets the very same one."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True)
class QueuedEvent:
    seq: int
    id: str
    type: str
    slug: str
    delivery: str
    content: str | None
    attempt_sha: str | None
    received_at: float


@dataclass(frozen=True)
class RepoTenant:
    """What the queue needs to know of a tenant already on the branch."""

    slug: str
    host: str
    plan: str
    domains: tuple[str, ...]


class Store:
    """One SQLite file shared by every web worker and the writer.

    A Store wraps one connection; open one per thread (sqlite3 connections are not shared).
    """

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit, so BEGIN IMMEDIATE means what it says.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def migrate(self) -> None:
        # Every statement is IF NOT EXISTS, so workers starting together may all run it.
        self._db.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so concurrent intakes serialise."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- intake -------------------------------------------------------------------------

    def answer_for(self, event_id: str) -> Answer | None:
        row = self._db.execute(
            "SELECT answer_status, answer_body FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else Answer(row[0], json.loads(row[1]))

    def pending_count(self) -> int:
        return int(
            self._db.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0]
        )

    def slug_taken(self, slug: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM tenants WHERE slug = ?", (slug,)).fetchone() is not None
        )

    def domain_owner(self, domain: str) -> str | None:
        row = self._db.execute("SELECT slug FROM domains WHERE domain = ?", (domain,)).fetchone()
        return None if row is None else str(row[0])

    def tenants_per_host(self) -> dict[str, int]:
        rows = self._db.execute("SELECT host, count(*) FROM tenants GROUP BY host")
        return {str(host): int(count) for host, count in rows}

    def inventory(self) -> Inventory | None:
        """The inventory the writer last read from the branch; None before its first sync."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'inventory'").fetchone()
        return None if row is None else Inventory.model_validate_json(row[0])

    def record_event(
        self,
        *,
        event_id: str,
        event_type: str,
        body_sha256: str,
        answer: Answer,
        status: EventStatus,
        slug: str | None = None,
        delivery: str = "direct",
        content: str | None = None,
        reason: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO events (id, type, slug, delivery, body_sha256, content, answer_status,"
            " answer_body, status, reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                event_type,
                slug,
                delivery,
                body_sha256,
                content,
                answer.status,
                json.dumps(answer.body, sort_keys=True),
                status,
                reason,
                time.time(),
            ),
        )

    def reserve(self, *, slug: str, host: str, plan: str, domains: Iterable[str]) -> None:
        self._db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 0)",
            (slug, host, plan),
        )
        self._db.executemany(
            "INSERT INTO domains (domain, slug) VALUES (?, ?)", [(d, slug) for d in domains]
        )

    def add_transition(
        self,
        slug: str,
        status: str,
        *,
        event_id: str | None = None,
        commit_sha: str | None = None,
        url: str | None = None,
        reason: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO transitions (slug, status, at, event_id, commit_sha, url, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (slug, status, time.time(), event_id, commit_sha, url, reason),
        )

    def transitions(self, slug: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT status, at, event_id, commit_sha, url, reason FROM transitions"
            " WHERE slug = ? ORDER BY id",
            (slug,),
        )
        return [
            {key: value for key, value in dict(row).items() if value is not None} for row in rows
        ]

    # --- writer -------------------------------------------------------------------------

    def pending(self, limit: int) -> list[QueuedEvent]:
        rows = self._db.execute(
            "SELECT seq, id, type, slug, delivery, content, attempt_sha, received_at FROM events"
            " WHERE status = 'pending' ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [QueuedEvent(**dict(row)) for row in rows]

    def record_attempt(self, events: Iterable[QueuedEvent], sha: str) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE events SET attempt_sha = ? WHERE id = ?", [(sha, e.id) for e in events]
            )

    def mark_done(
        self, events: Iterable[QueuedEvent], sha: str, status: str, *, on_branch: bool
    ) -> None:
        """Record that `events` reached the branch (on_branch) or a review branch in `sha`.

        When the commit is on the branch it also becomes the synced head: the writer made
        it on top of the last head it synced, so the queue's view stays exact without a
        full re-read.
        """
        now = time.time()
        with self.transaction() as db:
            for event in events:
                db.execute(
                    "UPDATE events SET status = 'done', commit_sha = ?, finished_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    (sha, now, event.id),
                )
                if on_branch:
                    db.execute("UPDATE tenants SET in_repo = 1 WHERE slug = ?", (event.slug,))
                self.add_transition(event.slug, status, event_id=event.id, commit_sha=sha)
            if on_branch:
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('head', ?)", (sha,))

    def mark_failed(self, event: QueuedEvent, reason: str) -> None:
        """Give up on `event`: free what it reserved, so the slug can be used again."""
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET status = 'failed', reason = ?, finished_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (reason, time.time(), event.id),
            )
            if event.type == "tenant.signup":
                db.execute("DELETE FROM tenants WHERE slug = ? AND in_repo = 0", (event.slug,))
                db.execute(
                    "DELETE FROM domains WHERE slug = ? AND NOT EXISTS"
                    " (SELECT 1 FROM tenants WHERE tenants.slug = domains.slug)",
                    (event.slug,),
                )
            self.add_transition(event.slug, "failed", event_id=event.id, reason=reason)

    def sync_repo(self, head: str, inventory: Inventory, tenants: Iterable[RepoTenant]) -> None:
        """Make the queue's view of the branch match `head`, keeping reservations still queued.

        Tenants added or removed by hand (a reviewer's own pull request) show up here, so
        intake refuses their slugs and counts them against their host's capacity.
        """
        with self.transaction() as db:
            db.execute("UPDATE tenants SET in_repo = 2 WHERE in_repo = 1")
            for tenant in tenants:
                db.execute(
                    "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 1)"
                    " ON CONFLICT (slug) DO UPDATE SET host = excluded.host, plan = excluded.plan,"
                    " in_repo = 1",
                    (tenant.slug, tenant.host, tenant.plan),
                )
                db.execute("DELETE FROM domains WHERE slug = ?", (tenant.slug,))
                db.executemany(
                    "INSERT OR REPLACE INTO domains (domain, slug) VALUES (?, ?)",
                    [(domain, tenant.slug) for domain in tenant.domains],
                )
            gone = [row[0] for row in db.execute("SELECT slug FROM tenants WHERE in_repo = 2")]
            db.executemany("DELETE FROM tenants WHERE slug = ?", [(slug,) for slug in gone])
            db.executemany("DELETE FROM domains WHERE slug = ?", [(slug,) for slug in gone])
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('inventory', ?), ('head', ?)",
                (inventory.model_dump_json(by_alias=True), head),
            )

    def synced_head(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        return None if row is None else str(row[0])
