"""Standing notices for the operator (shown on /admin), kept in the queue's meta table."""

from __future__ import annotations

import sqlite3
from typing import Final

_PREFIX: Final = "notice:"


def post(db: sqlite3.Connection, name: str, text: str) -> None:
    """Set notice `name` (a fixed word, one notice each) to `text`, replacing the last one."""
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (_PREFIX + name, text),
    )


def current(db: sqlite3.Connection) -> list[str]:
    """Every notice's text, by name."""
    # A range on the primary key, not a LIKE: the meta table's index answers it.
    rows = db.execute(
        "SELECT value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
        (_PREFIX, _PREFIX[:-1] + chr(ord(_PREFIX[-1]) + 1)),
    )
    return [value for (value,) in rows]
