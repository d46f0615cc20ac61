"""What the operator view shows: tenants, host capacity, the queue and the last errors."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from gitops_bot.store import errorlog
from gitops_bot.store.queue import Store

# Sort keys the page offers; a leading "-" reverses.
SORT_KEYS: Final = ("slug", "plan", "host", "state", "age")
_SHA: Final = re.compile(r"[0-9a-f]{7,64}")


@dataclass(frozen=True)
class TenantRow:
    slug: str
    plan: str | None
    host: str | None
    state: str
    since: float | None  # when the bot first saw it; None for tenants only found on the branch
    commit_sha: str | None
    review_url: str | None
    deploy_url: str | None

    def age(self, now: float) -> float | None:
        return None if self.since is None else max(0.0, now - self.since)


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


def tenant_rows(store: Store) -> list[TenantRow]:
    """Every tenant the bot knows: on the branch, queued, failed or deleted."""
    rows = store.connection.execute(
        """
        WITH seen AS (
            SELECT slug, max(id) AS last_id, min(at) AS since FROM transitions GROUP BY slug
        ),
        slugs AS (SELECT slug FROM tenants UNION SELECT slug FROM seen)
        SELECT s.slug, t.plan, t.host, t.in_repo, last.status, seen.since,
            CASE WHEN t.plan IS NULL THEN
                (SELECT content FROM events e WHERE e.slug = s.slug AND e.op = 'create'
                 ORDER BY seq DESC LIMIT 1)
            END AS file,
            (SELECT commit_sha FROM transitions c WHERE c.slug = s.slug
             AND c.commit_sha IS NOT NULL ORDER BY id DESC LIMIT 1) AS commit_sha,
            (SELECT url FROM transitions r WHERE r.slug = s.slug AND r.status = 'pr_open'
             AND r.url IS NOT NULL ORDER BY id DESC LIMIT 1) AS review_url,
            (SELECT url FROM transitions d WHERE d.slug = s.slug
             AND d.status IN ('deploying', 'deployed', 'live') AND d.url IS NOT NULL
             ORDER BY id DESC LIMIT 1) AS deploy_url
        FROM slugs s
        LEFT JOIN tenants t ON t.slug = s.slug
        LEFT JOIN seen ON seen.slug = s.slug
        LEFT JOIN transitions last ON last.id = seen.last_id
        """
    )
    result = []
    for row in rows:
        plan, host = row["plan"], row["host"]
        if plan is None and row["file"] is not None:
            # A failed or deleted tenant is no longer reserved; its signup still says where.
            plan, host = _json_field(row["file"], "plan"), _json_field(row["file"], "host")
        state = row["status"] or ("on branch" if row["in_repo"] else "queued")
        result.append(
            TenantRow(
                slug=row["slug"],
                plan=plan,
                host=host,
                state=state,
                since=row["since"],
                commit_sha=row["commit_sha"],
                review_url=row["review_url"],
                deploy_url=row["deploy_url"],
            )
        )
    return result


def _json_field(text: str, key: str) -> str | None:
    value = json.loads(text).get(key)
    return value if isinstance(value, str) else None


def select(
    rows: Iterable[TenantRow],
    *,
    state: str = "",
    host: str = "",
    search: str = "",
    sort: str = "slug",
    now: float | None = None,
) -> list[TenantRow]:
    """The rows a filter keeps, in the order `sort` asks for (unknown sort keys: by slug)."""
    now = time.time() if now is None else now
    kept = [
        row
        for row in rows
        if (not state or row.state == state)
        and (not host or row.host == host)
        and (not search or search.lower() in row.slug)
    ]
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key not in SORT_KEYS:
        key, descending = "slug", False
    known = [row for row in kept if _sort_value(row, key, now) is not None]
    unknown = [row for row in kept if _sort_value(row, key, now) is None]
    known.sort(key=lambda row: (_sort_value(row, key, now), row.slug), reverse=descending)
    # Rows without a value (an age nobody saw begin) go last, whichever the direction.
    return known + sorted(unknown, key=lambda row: row.slug)


def _sort_value(row: TenantRow, key: str, now: float) -> str | float | None:
    if key == "age":
        return row.age(now)
    value: str | None = getattr(row, key)
    return value


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


def states(rows: Sequence[TenantRow]) -> list[str]:
    return sorted({row.state for row in rows})


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
