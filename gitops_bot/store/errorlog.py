"""The last errors of the writer and the notifier, kept in SQLite for the operator view."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from gitops_bot.logs import redact
from gitops_bot.store import counters
from gitops_bot.store.queue import Store

# Enough to see what went wrong lately; the logs keep the whole story.
KEEP: Final = 50


@dataclass(frozen=True)
class Error:
    source: str
    message: str
    at: float  # the latest time it happened
    repeats: int


def remember(store: Store, source: str, message: str) -> None:
    """Record an error for the admin page (another process), never with a secret in it.

    The same failure again (a writer retrying a broken branch every 30 s) counts as a
    repeat of the last row, so it does not push every other error out.
    """
    message = redact(message)[:2000]
    now = time.time()
    with store.transaction() as db:
        counters.add(db, "errors", source=source)
        last = db.execute(
            "SELECT id, message FROM errors WHERE source = ? ORDER BY id DESC LIMIT 1", (source,)
        ).fetchone()
        if last is not None and last[1] == message:
            db.execute(
                "UPDATE errors SET at = ?, repeats = repeats + 1 WHERE id = ?", (now, last[0])
            )
            return
        db.execute(
            "INSERT INTO errors (source, message, at) VALUES (?, ?, ?)", (source, message, now)
        )
        db.execute("DELETE FROM errors WHERE id <= (SELECT max(id) FROM errors) - ?", (KEEP,))


def recent(store: Store, limit: int = 10) -> list[Error]:
    """The newest errors first."""
    rows = store.connection.execute(
        "SELECT source, message, at, repeats FROM errors ORDER BY at DESC, id DESC LIMIT ?",
        (limit,),
    )
    return [Error(str(row[0]), str(row[1]), float(row[2]), int(row[3])) for row in rows]
