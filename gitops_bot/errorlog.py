"""The last errors of the writer and the notifier, kept in SQLite for the operator view."""

from __future__ import annotations

import time
from typing import Final

from gitops_bot import counters
from gitops_bot.logs import redact
from gitops_bot.queue import Store

# Enough to see what went wrong lately; the logs keep the whole story.
KEEP: Final = 50


def remember(store: Store, source: str, message: str) -> None:
    """Record an error for the admin page (another process), never with a secret in it."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO errors (source, message, at) VALUES (?, ?, ?)",
            (source, redact(message)[:2000], time.time()),
        )
        db.execute("DELETE FROM errors WHERE id <= (SELECT max(id) FROM errors) - ?", (KEEP,))
        counters.add(db, "errors", source=source)


def recent(store: Store, limit: int = 10) -> list[tuple[str, str, float]]:
    """The newest errors first: (source, message, Unix time)."""
    rows = store.connection.execute(
        "SELECT source, message, at FROM errors ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [(str(source), str(message), float(at)) for source, message, at in rows]
