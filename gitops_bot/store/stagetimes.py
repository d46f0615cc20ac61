"""Histograms of signup-to-live and its stages, kept as running totals in `counters`.

/metrics must not read history at scrape time (issue 17), so each duration is added once,
in the transaction of the transition that ends it: a bucket count (not cumulative; the
scrape adds them up, ten rows) and a sum, per stage and for the whole. A duration never
changes once measured (contract/timeline.py), which is what makes adding it once right.
A file from before these totals gets them from its history once, in the migration step
0011_signup_timeline.sql, the same rules written in SQL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Final

from gitops_bot.contract.timeline import (
    BUCKETS,
    STAGE_ENDS,
    STAGES,
    bucket,
    le_label,
    timeline,
)
from gitops_bot.store import counters

# One tenant's rows from its latest signup on: on the (slug, id) index, nobody else's.
HISTORY_SQL: Final = (
    "SELECT status, at FROM transitions WHERE slug = ? AND id >= coalesce("
    "(SELECT max(id) FROM transitions WHERE slug = ? AND status = 'accepted'), 0)"
    " ORDER BY id"
)
# The newest live transitions, on the live-only index: it stops at the LIMIT.
RECENT_LIVE_SQL: Final = (
    "SELECT slug FROM transitions WHERE status = 'live' ORDER BY id DESC LIMIT ?"
)


def histories_sql(count: int) -> str:
    """The rows of `count` tenants, on the (slug, id) index."""
    marks = ", ".join("?" for _ in range(count))
    return (
        f"SELECT slug, status, at FROM transitions WHERE slug IN ({marks})"  # noqa: S608 - marks
        " ORDER BY slug, id"
    )


TOTAL: Final = "signup_to_live_seconds"
STAGE: Final = "stage_seconds"
# Counter names; `le` is the bucket's upper bound, "+Inf" the last.
_BUCKET: Final = "_bucket"
_SUM: Final = "_sum"


@dataclass(frozen=True)
class Histogram:
    """Cumulative buckets as Prometheus wants them, with the sum and count."""

    buckets: list[tuple[str, float]]
    sum: float
    count: float


def empty() -> Histogram:
    """A histogram nothing was observed in, so every series shows from the first scrape."""
    return Histogram(counters.cumulative({}, (le_label(b) for b in BUCKETS)), 0.0, 0.0)


def record(db: sqlite3.Connection, slug: str, status: str) -> None:
    """Add the durations that `slug`'s transition to `status`, just inserted, ended.

    Call it inside the transaction that inserted the transition.
    """
    if status not in STAGE_ENDS:
        return
    rows = _history(db, slug)
    before, after = timeline(rows[:-1]), timeline(rows)
    for stage in STAGES:
        seconds = after.stages[stage]
        if seconds is not None and before.stages[stage] is None:
            _observe(db, STAGE, seconds, stage=stage)
    if after.signup_to_live is not None and before.signup_to_live is None:
        _observe(db, TOTAL, after.signup_to_live)


def _history(db: sqlite3.Connection, slug: str) -> list[dict[str, Any]]:
    rows = db.execute(HISTORY_SQL, (slug, slug))
    return [{"status": status, "at": at} for status, at in rows]


def _observe(db: sqlite3.Connection, name: str, seconds: float, **labels: str) -> None:
    counters.add(db, name + _BUCKET, 1.0, **labels, le=bucket(seconds))
    counters.add(db, name + _SUM, seconds, **labels)


def histograms(db: sqlite3.Connection, name: str, label: str | None = None) -> dict[str, Histogram]:
    """Every series of histogram `name`, by the value of `label` ("" when it has none)."""
    counts: dict[str, dict[str, float]] = {}
    for labels, value in counters.read(db, name + _BUCKET):
        key = "" if label is None else labels.get(label, "")
        per_bucket = counts.setdefault(key, {})
        le = labels.get("le", "+Inf")
        per_bucket[le] = per_bucket.get(le, 0.0) + value
    sums: dict[str, float] = {}
    for labels, value in counters.read(db, name + _SUM):
        key = "" if label is None else labels.get(label, "")
        sums[key] = sums.get(key, 0.0) + value
    bounds = [le_label(b) for b in BUCKETS]
    result = {}
    for key in sorted(set(counts) | set(sums)):
        buckets = counters.cumulative(counts.get(key, {}), bounds)
        result[key] = Histogram(buckets, sums.get(key, 0.0), buckets[-1][1])
    return result


def recent_live(db: sqlite3.Connection, limit: int) -> list[list[dict[str, Any]]]:
    """The histories of the `limit` tenants that went live most recently, oldest first.

    Two bounded reads: the newest live transitions on their own index (a tenant that went
    live twice appears once, so a few more rows than `limit` are read), then those
    tenants' rows on the (slug, id) index. Never the whole table.
    """
    slugs: list[str] = []
    for (slug,) in db.execute(RECENT_LIVE_SQL, (limit * 2,)):
        if slug not in slugs and len(slugs) < limit:
            slugs.append(slug)
    if not slugs:
        return []
    rows = db.execute(histories_sql(len(slugs)), slugs)
    histories: dict[str, list[dict[str, Any]]] = {slug: [] for slug in reversed(slugs)}
    for slug, status, at in rows:
        histories[slug].append({"slug": slug, "status": status, "at": at})
    return list(histories.values())
