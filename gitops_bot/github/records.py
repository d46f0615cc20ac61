"""What the GitHub webhook remembers: the deliveries it handled, and reviewers' last reasons."""

from __future__ import annotations

import time
from typing import Final

from gitops_bot.store.queue import Store

# GitHub lets an operator redeliver a delivery of the last three days; keep a week.
KEEP_DELIVERIES: Final = 7 * 24 * 3600.0
MAX_REASON: Final = 500


class GitHubRecords:
    """Two small tables in the queue's SQLite file, used inside the queue's transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def first_delivery(self, delivery: str, event: str) -> bool:
        """Record `delivery`; False when it was handled before (GitHub redelivered it)."""
        now = time.time()
        with self.store.transaction() as db:
            db.execute("DELETE FROM deliveries WHERE received_at < ?", (now - KEEP_DELIVERIES,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?, ?, ?)",
                (delivery, event, now),
            )
            return inserted.rowcount == 1

    def note_reason(self, slug: str, reason: str) -> None:
        """Keep the latest thing a reviewer said, in case they close the pull request."""
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO review_notes (slug, reason, at) VALUES (?, ?, ?)",
                (slug, reason.strip()[:MAX_REASON], time.time()),
            )

    def reason(self, slug: str) -> str | None:
        with self.store.transaction() as db:
            row = db.execute("SELECT reason FROM review_notes WHERE slug = ?", (slug,)).fetchone()
            return None if row is None else str(row[0])

    def forget_reason(self, slug: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM review_notes WHERE slug = ?", (slug,))
