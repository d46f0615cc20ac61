"""The outbox: status notifications to send, written in the same transaction as their transition.

Writing the message with the transition (rather than sending from wherever the
transition happens) means a notification exists exactly when its transition does:
neither a crash nor a failing receiver can lose one or invent one, and the writer
never waits on the landing page. The notifier (notify.py) drains it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from gitops_bot.store import domainchecks

EVENT_TYPE: Final = "tenant.status"
UPGRADED_TYPE: Final = "tenant.upgraded"
# Messages of no transition (a rollout's "upgraded") take keys above every transition id:
# the queue's per-tenant order then sends each after the "live" that it follows.
_UPGRADED_BASE: Final = 1 << 62
# The processes that deliver (and the web app, which shares their settings) set this
# flag at start: transitions are written by several processes, and each learns from
# the database, not from its own settings, whether anyone will deliver the messages.
_FLAG: Final = "notify"


@dataclass(frozen=True)
class Message:
    transition_id: int
    id: str
    slug: str
    body: str
    attempts: int


def message_id(transition_id: int) -> str:
    """The webhook-id: fixed per transition, so the receiver can drop a redelivery."""
    return f"tst_{transition_id}"


def enable(db: sqlite3.Connection, on: bool) -> None:  # noqa: FBT001 - reads as a switch
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_FLAG, "1" if on else "0"),
    )


def enabled(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (_FLAG,)).fetchone()
    return row is not None and row[0] == "1"


def enqueue(
    db: sqlite3.Connection,
    *,
    transition_id: int,
    slug: str,
    status: str,
    at: float,
    commit_sha: str | None = None,
    url: str | None = None,
    reason: str | None = None,
) -> None:
    """Store the message for a transition; its body is fixed now, so retries send the same bytes."""
    when = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"slug": slug, "status": status, "at": when}
    optional = {"commitSha": commit_sha, "url": url, "reason": reason}
    data.update({key: value for key, value in optional.items() if value is not None})
    # The landing page tells the customer which DNS record to create, and whether it was seen.
    if checks := domainchecks.for_slug(db, slug):
        data["domains"] = [check.as_json() for check in checks]
    body = json.dumps({"type": EVENT_TYPE, "timestamp": when, "data": data}, sort_keys=True)
    db.execute(
        "INSERT OR IGNORE INTO outbox (transition_id, id, slug, body, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (transition_id, message_id(transition_id), slug, body, at, at),
    )


def enqueue_upgraded(
    db: sqlite3.Connection,
    *,
    key: int,
    slug: str,
    release: str,
    previous: str | None,
    rollout_id: int,
    at: float,
) -> None:
    """Tell the landing page that a rollout moved `slug` to `release` and it is live there.

    `key` is fixed per rollout tenant (its row), so a repeat after a crash is the same message.
    """
    if not enabled(db):
        return
    when = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"slug": slug, "release": release, "at": when, "rollout": rollout_id}
    if previous is not None:
        data["previousRelease"] = previous
    body = json.dumps({"type": UPGRADED_TYPE, "timestamp": when, "data": data}, sort_keys=True)
    db.execute(
        "INSERT OR IGNORE INTO outbox (transition_id, id, slug, body, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (_UPGRADED_BASE + key, f"tup_{key}", slug, body, at, at),
    )


def due(db: sqlite3.Connection, now: float, limit: int = 100) -> list[Message]:
    """Messages to send now, oldest first, at most one per tenant.

    A tenant's next message waits until the one before it is delivered or given up
    on, so the receiver sees each tenant's statuses in the order they happened.
    """
    rows = db.execute(
        "SELECT transition_id, id, slug, body, attempts FROM outbox o"
        " WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.slug = o.slug"
        "   AND p.transition_id < o.transition_id"
        "   AND p.delivered_at IS NULL AND p.given_up_at IS NULL)"
        " ORDER BY transition_id LIMIT ?",
        (now, limit),
    )
    return [Message(*row) for row in rows]


def next_attempt(db: sqlite3.Connection) -> float | None:
    """When the earliest open message is due; None when none is open."""
    value = db.execute(
        "SELECT min(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL"
    ).fetchone()[0]
    return None if value is None else float(value)


def delivered(db: sqlite3.Connection, message: Message, now: float) -> None:
    db.execute(
        "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL"
        " WHERE transition_id = ?",
        (now, message.transition_id),
    )


def failed(
    db: sqlite3.Connection, message: Message, error: str, *, retry_at: float | None, now: float
) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up when it is None."""
    db.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
        " next_attempt_at = coalesce(?, next_attempt_at),"
        " given_up_at = CASE WHEN ? IS NULL THEN ? END WHERE transition_id = ?",
        (error, retry_at, retry_at, now, message.transition_id),
    )
