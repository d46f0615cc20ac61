"""The durable queue: accepted events, from intake to the commit that settles them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gitops_bot.store import counters
from gitops_bot.store.reservations import RepoTenant, Reservations
from gitops_bot.store.transitions import Transitions

EventStatus = Literal["pending", "done", "failed", "rejected"]
Operation = Literal["create", "update", "delete", "merge", "verify"]


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


class Store(Reservations, Transitions):
    """The queue: accepted events, with the reservations and statuses that go with them.

    One SQLite file shared by every web worker and the writer; a Store wraps one connection,
    so open one per thread.
    """

    # --- intake -------------------------------------------------------------------------

    def answer_for(self, event_id: str) -> Answer | None:
        row = self._db.execute(
            "SELECT answer_status, answer_body FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else Answer(row[0], json.loads(row[1]))

    def pending_count(self) -> int:
        # Intake asks under the write lock at every signup: a row kept by triggers, not a count.
        return int(counters.total(self._db, "queue_depth"))

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

    def event_outcome(self, event_id: str) -> tuple[str, str | None, str | None] | None:
        """An event's status, failure reason and commit, for those who wait on it."""
        row = self._db.execute(
            "SELECT status, reason, commit_sha FROM events WHERE id = ?", (event_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), row[1], row[2])

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
