"""The durable queue: accepted events, slug reservations and tenant status, in one SQLite file."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal, Self

from gitops_bot import outbox
from gitops_bot.inventory import Inventory
from gitops_bot.lifecycle import ON_BRANCH, should_record

EventStatus = Literal["pending", "done", "failed", "rejected"]
Operation = Literal["create", "update", "delete", "merge"]


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
    op: Operation
    content: str | None
    delivery: str
    reason_given: str | None
    attempt_sha: str | None
    received_at: float


@dataclass(frozen=True)
class RepoTenant:
    """What the queue needs to know of a tenant on the branch."""

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
        # Persistent once set, but cheap to confirm, and a fresh file needs it.
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        # Writers queue on this lock before they ask SQLite for its own (see transaction).
        self._write_lock = os.open(
            path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )

    def close(self) -> None:
        self._db.close()
        os.close(self._write_lock)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """For the modules that own their own tables (outbox, errors) and read models."""
        return self._db

    def migrate(self) -> None:
        with self._turn():
            try:
                self._db.executescript(files("gitops_bot").joinpath("schema.sql").read_text())
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """This connection's turn to write, in the order writers asked for it."""
        fcntl.flock(self._write_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._write_lock, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front, so concurrent intakes serialise.

        Nested use joins the outer transaction. Writers first wait their turn on a file
        lock, which the kernel hands to the next waiter the moment it is released: SQLite's
        own busy handler instead sleeps and retries (up to 100 ms a time), which under a
        burst of signups leaves the lock idle while every writer sleeps, and starves some.
        """
        if self._db.in_transaction:
            yield self._db
            return
        with self._turn():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _scalar(self, sql: str, *args: object) -> Any:
        row = self._db.execute(sql, args).fetchone()
        return None if row is None else row[0]

    # --- intake -------------------------------------------------------------------------

    def answer_for(self, event_id: str) -> Answer | None:
        row = self._db.execute(
            "SELECT answer_status, answer_body FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else Answer(row[0], json.loads(row[1]))

    def pending_count(self) -> int:
        return int(self._scalar("SELECT count(*) FROM events WHERE status = 'pending'"))

    def oldest_pending(self) -> float | None:
        value = self._scalar("SELECT min(received_at) FROM events WHERE status = 'pending'")
        return None if value is None else float(value)

    def slug_taken(self, slug: str) -> bool:
        return self._scalar("SELECT 1 FROM tenants WHERE slug = ?", slug) is not None

    def tenant(self, slug: str) -> RepoTenant | None:
        row = self._db.execute("SELECT host, plan FROM tenants WHERE slug = ?", (slug,)).fetchone()
        if row is None:
            return None
        domains = self._db.execute("SELECT domain FROM domains WHERE slug = ? ORDER BY 1", (slug,))
        return RepoTenant(slug, row[0], row[1], tuple(d[0] for d in domains))

    def on_branch(self, slug: str) -> bool:
        return bool(self._scalar("SELECT in_repo FROM tenants WHERE slug = ?", slug) == 1)

    def domain_owner(self, domain: str) -> str | None:
        value = self._scalar("SELECT slug FROM domains WHERE domain = ?", domain)
        return None if value is None else str(value)

    def tenants_per_host(self) -> dict[str, int]:
        rows = self._db.execute("SELECT host, taken FROM host_seats WHERE taken > 0")
        return {str(host): int(count) for host, count in rows}

    def inventory(self) -> Inventory | None:
        """The inventory the writer last read from the branch; None before its first sync."""
        value = self._scalar("SELECT value FROM meta WHERE key = 'inventory'")
        return None if value is None else Inventory.model_validate_json(value)

    def record_event(
        self,
        *,
        event_id: str,
        event_type: str,
        body_sha256: str,
        answer: Answer,
        status: EventStatus,
        slug: str | None = None,
        op: Operation = "create",
        content: str | None = None,
        delivery: str = "direct",
        reason_given: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO events (id, type, slug, op, content, delivery, reason_given, body_sha256,"
            " answer_status, answer_body, status, reason, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                event_type,
                slug,
                op,
                content,
                delivery,
                reason_given,
                body_sha256,
                answer.status,
                json.dumps(answer.body, sort_keys=True),
                status,
                None if status != "rejected" else answer.body.get("error"),
                time.time(),
            ),
        )

    def reserve(self, *, slug: str, host: str, plan: str, domains: Iterable[str]) -> None:
        self._db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 0)",
            (slug, host, plan),
        )
        self.reserve_domains(slug, domains)

    def reserve_domains(self, slug: str, domains: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO domains (domain, slug, in_repo) VALUES (?, ?, 0)",
            [(d, slug) for d in domains],
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
        notify: bool = True,
    ) -> bool:
        """Record that `slug` reached `status`, unless the state machine says it is stale.

        With notifications on, its message is written in the same transaction; `notify`
        False records without telling anyone (history recovered, not a change).
        """
        with self.transaction() as db:
            if not should_record(self.last_status(slug), status):
                return False
            at = time.time()
            inserted = db.execute(
                "INSERT INTO transitions (slug, status, at, event_id, commit_sha, url, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (slug, status, at, event_id, commit_sha, url, reason),
            )
            if notify and outbox.enabled(db) and inserted.lastrowid is not None:
                outbox.enqueue(
                    db,
                    transition_id=inserted.lastrowid,
                    slug=slug,
                    status=status,
                    at=at,
                    commit_sha=commit_sha,
                    url=url,
                    reason=reason,
                )
            return True

    def transitions(self, slug: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT status, at, event_id, commit_sha, url, reason FROM transitions"
            " WHERE slug = ? ORDER BY id",
            (slug,),
        )
        return [
            {key: value for key, value in dict(row).items() if value is not None} for row in rows
        ]

    def event_outcome(self, event_id: str) -> tuple[str, str | None, str | None] | None:
        """An event's status, failure reason and commit, for those who wait on it."""
        row = self._db.execute(
            "SELECT status, reason, commit_sha FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), row[1], row[2])

    def slugs_with_status(self, *statuses: str) -> set[str]:
        """Tenants whose latest status is one of `statuses`."""
        rows = self._db.execute(
            "SELECT slug, status FROM transitions WHERE id IN"
            " (SELECT max(id) FROM transitions GROUP BY slug)"
        )
        return {str(slug) for slug, status in rows if status in statuses}

    def slugs_at_commit(self, sha: str) -> list[str]:
        """Tenants whose change reached the main branch in commit `sha`."""
        rows = self._db.execute(
            "SELECT slug, status FROM transitions WHERE commit_sha = ? ORDER BY id", (sha,)
        )
        return sorted({str(slug) for slug, status in rows if status in ON_BRANCH})

    def slug_reviewed_at(self, url: str) -> str | None:
        """The tenant whose review is at `url` (a pull request's page)."""
        value = self._scalar(
            "SELECT slug FROM transitions WHERE url = ? AND status = 'pr_open'"
            " ORDER BY id DESC LIMIT 1",
            url,
        )
        return None if value is None else str(value)

    def release(self, slug: str) -> None:
        """Free the names and the seat a tenant held that never reached the branch."""
        with self.transaction() as db:
            db.execute("DELETE FROM tenants WHERE slug = ? AND in_repo = 0", (slug,))
            db.execute("DELETE FROM domains WHERE slug = ? AND in_repo = 0", (slug,))

    def last_status(self, slug: str) -> str | None:
        value = self._scalar(
            "SELECT status FROM transitions WHERE slug = ? ORDER BY id DESC LIMIT 1", slug
        )
        return None if value is None else str(value)

    # --- writer -------------------------------------------------------------------------

    def pending(self, limit: int) -> list[QueuedEvent]:
        rows = self._db.execute(
            "SELECT seq, id, type, slug, op, content, delivery, reason_given, attempt_sha,"
            " received_at FROM events WHERE status = 'pending' ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [QueuedEvent(**dict(row)) for row in rows]

    def record_attempt(self, events: Iterable[QueuedEvent], sha: str) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE events SET attempt_sha = ? WHERE id = ?", [(sha, e.id) for e in events]
            )

    def mark_done(
        self,
        events: Iterable[QueuedEvent],
        sha: str,
        status: str | Callable[[QueuedEvent], str],
        *,
        url: str | None = None,
        landed: Mapping[str, RepoTenant | None] | None = None,
    ) -> None:
        """Record that `events` reached a branch in commit `sha`, and move their tenants on.

        `landed` is given when the commit is on the main branch: the state of each touched
        tenant there (None: deleted). The commit was built on the head the queue last
        synced, so applying just these keeps the queue's view exact without a full re-read.
        """
        now = time.time()
        with self.transaction() as db:
            for event in events:
                db.execute(
                    "UPDATE events SET status = 'done', commit_sha = ?, finished_at = ?"
                    " WHERE id = ? AND status = 'pending'",
                    (sha, now, event.id),
                )
                reached = status if isinstance(status, str) else status(event)
                self.add_transition(event.slug, reached, event_id=event.id, commit_sha=sha, url=url)
            if landed is not None:
                for slug, tenant in landed.items():
                    self._set_on_branch(slug, tenant)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('head', ?)", (sha,))

    def mark_failed(self, event: QueuedEvent, reason: str) -> None:
        """Give up on `event`, and free what it reserved so that its names can be used again."""
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET status = 'failed', reason = ?, finished_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (reason, time.time(), event.id),
            )
            db.execute("DELETE FROM tenants WHERE slug = ? AND in_repo = 0", (event.slug,))
            db.execute("DELETE FROM domains WHERE slug = ? AND in_repo = 0", (event.slug,))
            self.add_transition(event.slug, "failed", event_id=event.id, reason=reason)

    def _set_on_branch(self, slug: str, tenant: RepoTenant | None) -> None:
        db = self._db
        if tenant is None:
            db.execute("DELETE FROM tenants WHERE slug = ?", (slug,))
            db.execute("DELETE FROM domains WHERE slug = ?", (slug,))
            return
        db.execute(
            "INSERT INTO tenants (slug, host, plan, in_repo) VALUES (?, ?, ?, 1)"
            " ON CONFLICT (slug) DO UPDATE SET host = excluded.host, plan = excluded.plan,"
            " in_repo = 1",
            (slug, tenant.host, tenant.plan),
        )
        db.execute("DELETE FROM domains WHERE slug = ? AND in_repo = 1", (slug,))
        db.executemany(
            "INSERT OR REPLACE INTO domains (domain, slug, in_repo) VALUES (?, ?, 1)",
            [(domain, slug) for domain in tenant.domains],
        )

    def sync_repo(
        self, head: str, inventory: Inventory, tenants: Iterable[RepoTenant]
    ) -> tuple[list[str], list[str]]:
        """Make the queue's view of the branch match `head`; the slugs that arrived and left.

        Tenants added or removed by hand (a reviewer's own pull request) show up here, so
        intake refuses their slugs and counts them against their host's capacity.
        Reservations of events still queued are kept.
        """
        with self.transaction() as db:
            db.execute("UPDATE tenants SET in_repo = 2 WHERE in_repo = 1")
            arrived = []
            for tenant in tenants:
                if self._scalar("SELECT in_repo FROM tenants WHERE slug = ?", tenant.slug) != 2:  # noqa: PLR2004
                    arrived.append(tenant.slug)
                self._set_on_branch(tenant.slug, tenant)
            gone = [row[0] for row in db.execute("SELECT slug FROM tenants WHERE in_repo = 2")]
            for slug in gone:
                self._set_on_branch(slug, None)
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('inventory', ?), ('head', ?)",
                (inventory.model_dump_json(by_alias=True), head),
            )
            return arrived, gone

    def synced_head(self) -> str | None:
        value = self._scalar("SELECT value FROM meta WHERE key = 'head'")
        return None if value is None else str(value)
