"""What the operator view shows beside its tenant list: hosts, the queue, the last errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from gitops_bot.store import errorlog
from gitops_bot.store.queue import Store

_SHA: Final = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class HostLoad:
    name: str
    capacity: int
    tenants: int


@dataclass(frozen=True)
class QueueState:
    depth: int
    oldest_id: str | None = None
    oldest_slug: str | None = None
    oldest_type: str | None = None
    oldest_at: float | None = None


@dataclass(frozen=True)
class ErrorLine:
    at: float
    source: str  # "event" (a failed event), "writer" or "notify"
    message: str
    slug: str | None = None
    event_id: str | None = None
    repeats: int = 1


def host_loads(store: Store) -> list[HostLoad]:
    """Each host of the inventory with its capacity and the tenants placed or reserved on it."""
    inventory = store.inventory()
    counts = store.tenants_per_host()
    hosts = {} if inventory is None else inventory.hosts
    return [
        HostLoad(name, hosts[name].capacity if name in hosts else 0, counts.get(name, 0))
        for name in sorted(set(hosts) | set(counts))
    ]


def queue_state(store: Store) -> QueueState:
    depth = store.pending_count()
    oldest = store.connection.execute(
        "SELECT id, slug, type, received_at FROM events WHERE status = 'pending'"
        " ORDER BY seq LIMIT 1"
    ).fetchone()
    if oldest is None:
        return QueueState(depth)
    return QueueState(depth, oldest[0], oldest[1], oldest[2], oldest[3])


def last_errors(store: Store, limit: int = 10) -> list[ErrorLine]:
    """Failed events' reasons and the writer's and notifier's errors, newest first."""
    failed = store.connection.execute(
        "SELECT finished_at, reason, slug, id FROM events WHERE status = 'failed'"
        " ORDER BY finished_at DESC LIMIT ?",
        (limit,),
    )
    lines = [
        ErrorLine(at, "event", reason or "", slug, event_id)
        for at, reason, slug, event_id in failed
    ]
    lines += [
        ErrorLine(error.at, error.source, error.message, repeats=error.repeats)
        for error in errorlog.recent(store, limit)
    ]
    return sorted(lines, key=lambda line: line.at, reverse=True)[:limit]


def commit_link(template: str | None, sha: str | None) -> str | None:
    """The commit's URL from `commit_url_template`; None when there is none to make."""
    if template is None or sha is None or not _SHA.fullmatch(sha):
        return None
    return template.replace("{sha}", sha)


def web_link(url: str | None) -> str | None:
    """`url` if a browser may follow it: a review "URL" is a bare branch name locally."""
    return url if url is not None and url.startswith(("https://", "http://")) else None


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"
