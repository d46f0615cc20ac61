"""GET /metrics: Prometheus metrics, computed from the SQLite file at scrape time.

Why not prometheus-client's usual in-memory metrics: the bot is several processes
(gunicorn workers, the writer) that share nothing but the SQLite file, and a scrape
reaches one worker at random. Multiprocess mode would fix that with a directory of
mmap files per process, set up before any fork and cleaned on every restart. The facts
are already durable rows here (events, transitions, tenants, outbox), so each scrape
reads them instead: every worker answers the same numbers, restarts lose nothing, and
nothing runs at import time. What has no row of its own (refused deliveries, GitHub
requests, rate-limit waits, errors) is added to the `counters` table (counters.py).

A scrape never reads history: totals of events, transitions and notifications are rows
of `counters` too, kept by schema.sql's triggers in the transaction of the row they
count, so a scrape costs the same at a million events as at a thousand (issue 17).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Final

from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gitops_bot.contract.inventory import Inventory
from gitops_bot.contract.timeline import STAGES
from gitops_bot.store import counters, stagetimes
from gitops_bot.web.auth import is_admin

bp = Blueprint("metrics", __name__)

PREFIX: Final = "gitops_bot_"
# Seconds from the 202 to the commit: a batch takes well under a second, a writer that
# waits on a failing state repo minutes. The trigger event_settled (schema.sql) names the
# same bounds: changing them takes a migration that adds the events up again.
LATENCY_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
# Counters table rows, as (name, help, label names): see counters.py for who adds them.
_COUNTERS: Final = (
    ("intake_rejected", "Webhook deliveries refused, by reason", ("reason",)),
    ("github_requests", "Requests to the GitHub API, by kind", ("kind",)),
    ("github_rate_limit_waits", "Times the GitHub rate governor waited", ()),
    ("github_rate_limit_wait_seconds", "Seconds the GitHub rate governor waited", ()),
    ("errors", "Errors of the writer and the notifier", ("source",)),
)


class StoreCollector(Collector):
    """Every metric, read from the queue's SQLite file when Prometheus asks."""

    def __init__(self, database: Path) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        # Read-only: a scrape must never take the write lock intake and the writer need.
        uri = f"file:{self.database}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=5.0)) as db:
            yield from self._intake(db)
            yield from self._queue(db)
            yield self._latency(db)
            yield from self._tenants(db)
            yield self._releases(db)
            yield from self._counters(db)
            yield self._notifications(db)
            yield from self._timeline(db)
            yield from self._rollout(db)

    @staticmethod
    def _intake(db: sqlite3.Connection) -> Iterator[Metric]:
        accepted = CounterMetricFamily(
            f"{PREFIX}intake_accepted",
            "Events accepted and queued (webhooks and operator commands), by type",
            labels=["type"],
        )
        for labels, count in counters.read(db, "events_accepted"):
            accepted.add_metric([labels["type"]], count)
        yield accepted

    @staticmethod
    def _queue(db: sqlite3.Connection) -> Iterator[Metric]:
        # min() over the partial index events_pending_age: its first entry.
        (oldest,) = db.execute(
            "SELECT min(received_at) FROM events WHERE status = 'pending'"
        ).fetchone()
        count = counters.total(db, "queue_depth")
        yield GaugeMetricFamily(f"{PREFIX}queue_depth", "Events waiting for the writer", count)
        yield GaugeMetricFamily(
            f"{PREFIX}queue_oldest_age_seconds",
            "Age of the oldest waiting event; 0 when none waits",
            0.0 if oldest is None else max(0.0, time.time() - oldest),
        )

    @staticmethod
    def _latency(db: sqlite3.Connection) -> Metric:
        per_bucket = {labels["le"]: n for labels, n in counters.read(db, "accept_to_commit_bucket")}
        buckets = counters.cumulative(per_bucket, (str(le) for le in LATENCY_BUCKETS))
        return HistogramMetricFamily(
            f"{PREFIX}accept_to_commit_seconds",
            "Seconds from accepting an event to committing it",
            buckets=buckets,
            sum_value=counters.total(db, "accept_to_commit_sum"),
        )

    @staticmethod
    def _tenants(db: sqlite3.Connection) -> Iterator[Metric]:
        transitions = CounterMetricFamily(
            f"{PREFIX}transitions", "Tenant state transitions, by new status", labels=["status"]
        )
        for labels, count in sorted(counters.read(db, "transitions"), key=_first_label):
            transitions.add_metric([labels["status"]], count)
        yield transitions
        # The operator view's tenant list keeps these counts (store/schema.sql): one row each.
        current = GaugeMetricFamily(
            f"{PREFIX}tenants_by_status",
            "Tenants the operator view lists, by their latest status ('queued' or"
            " 'on branch' before their first)",
            labels=["status"],
        )
        rows = db.execute(
            "SELECT value, tenants FROM tenant_list_counts WHERE field = 'state' AND tenants > 0"
            " ORDER BY value"
        )
        for status, count in rows:
            current.add_metric([status], count)
        yield current
        deploys = CounterMetricFamily(
            f"{PREFIX}deploys",
            "Deploys started, and how they ended (deployed, failed while deploying), and "
            "tenants the probe then saw live",
            labels=["outcome"],
        )
        # "failed" counts a failure right after deploying: the trigger reads the status
        # before it, where a lag() over every transition used to.
        for outcome in ("started", "deployed", "live", "failed"):
            deploys.add_metric([outcome], counters.total(db, "deploys", outcome=outcome))
        yield deploys
        capacity = GaugeMetricFamily(
            f"{PREFIX}host_capacity", "Tenants a host may run", labels=["host"]
        )
        placed = GaugeMetricFamily(
            f"{PREFIX}host_tenants", "Tenants on a host or reserved for it", labels=["host"]
        )
        # Seats are kept per host by triggers on tenants (schema.sql): no pass over the fleet.
        counts = dict(db.execute("SELECT host, taken FROM host_seats WHERE taken > 0").fetchall())
        inventory = db.execute("SELECT value FROM meta WHERE key = 'inventory'").fetchone()
        hosts = {} if inventory is None else Inventory.model_validate_json(inventory[0]).hosts
        for name in sorted(set(hosts) | set(counts)):
            if name in hosts:
                capacity.add_metric([name], hosts[name].capacity)
            placed.add_metric([name], counts.get(name, 0))
        yield capacity
        yield placed

    @staticmethod
    def _releases(db: sqlite3.Connection) -> Metric:
        # From the queue's own rows of the branch's tenants, kept as commits land: one
        # GROUP BY, never a read of the tenant files.
        family = GaugeMetricFamily(
            f"{PREFIX}tenants",
            "Tenants on the branch, by the app release their file names"
            ' (release="": none, the legacy app.package)',
            labels=["release"],
        )
        rows = db.execute(
            "SELECT coalesce(release, ''), count(*) FROM tenants WHERE in_repo = 1"
            " GROUP BY 1 ORDER BY 1"
        )
        for release, count in rows:
            family.add_metric([release], count)
        return family

    @staticmethod
    def _rollout(db: sqlite3.Connection) -> Iterator[Metric]:
        # The latest rollout only: an alert on state="halted" needs one series, not history.
        state = GaugeMetricFamily(
            f"{PREFIX}rollout_state",
            "The latest release rollout: 1 for its state (running, paused, halted, aborting,"
            " completed, aborted)",
            labels=["release", "state"],
        )
        tenants = GaugeMetricFamily(
            f"{PREFIX}rollout_tenants",
            "Tenants of the latest release rollout, by their state in it",
            labels=["release", "state"],
        )
        row = db.execute(
            "SELECT id, release, state FROM rollouts ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            rollout_id, release, current = row
            state.add_metric([release, current], 1)
            counted = db.execute(
                "SELECT state, count(*) FROM rollout_tenants WHERE rollout_id = ?"
                " GROUP BY 1 ORDER BY 1",
                (rollout_id,),
            )
            for tenant_state, count in counted:
                tenants.add_metric([release, tenant_state], count)
        yield state
        yield tenants

    @staticmethod
    def _counters(db: sqlite3.Connection) -> Iterator[Metric]:
        stored: dict[str, list[tuple[dict[str, str], float]]] = {}
        for name, labels, value in db.execute("SELECT name, labels, value FROM counters"):
            stored.setdefault(name, []).append((json.loads(labels), value))
        for name, documentation, label_names in _COUNTERS:
            family = CounterMetricFamily(f"{PREFIX}{name}", documentation, labels=label_names)
            for labels, value in stored.get(name, []):
                family.add_metric([labels.get(key, "") for key in label_names], value)
            yield family

    @staticmethod
    def _notifications(db: sqlite3.Connection) -> Metric:
        family = GaugeMetricFamily(
            f"{PREFIX}notifications",
            "Outgoing status notifications, by state",
            labels=["state"],
        )
        for state in ("pending", "delivered", "failed"):
            family.add_metric([state], counters.total(db, "notifications", state=state))
        return family

    @staticmethod
    def _timeline(db: sqlite3.Connection) -> Iterator[Metric]:
        # Running totals added with the transitions that ended each stage: no history read.
        total = HistogramMetricFamily(
            f"{PREFIX}{stagetimes.TOTAL}",
            "Seconds from a signup's acceptance to its URL answering (first time live)",
        )
        histogram = stagetimes.histograms(db, stagetimes.TOTAL).get("", stagetimes.empty())
        total.add_metric([], histogram.buckets, histogram.sum)
        yield total
        stages = HistogramMetricFamily(
            f"{PREFIX}{stagetimes.STAGE}",
            "Seconds per stage of a signup, by the status that ends it: committed (from "
            "accepted; merged for a review), deploying, deployed, live",
            labels=["stage"],
        )
        measured = stagetimes.histograms(db, stagetimes.STAGE, "stage")
        for stage in STAGES:
            histogram = measured.get(stage, stagetimes.empty())
            stages.add_metric([stage], histogram.buckets, histogram.sum)
        yield stages


def _first_label(series: tuple[dict[str, str], float]) -> list[str]:
    # The order GROUP BY gave before the totals were kept, so the output reads the same.
    return sorted(series[0].values())


def init_app(app: Flask, database: Path) -> None:
    # A registry per app, so that tests can build as many apps as they like.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(database))
    app.extensions["gitops_bot.metrics"] = registry
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response | tuple[Response, int]:
    # Signup rates are business data, and this port faces the internet.
    if not is_admin():
        response = jsonify({"error": "the admin token is required"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="gitops-bot"'
        return response, 401
    registry: CollectorRegistry = current_app.extensions["gitops_bot.metrics"]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
