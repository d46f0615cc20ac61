"""The rollout driver: queue a wave, wait until it is live on the release and soaked, go on.

Every decision is read from and written to SQLite in one transaction per round, and each
step is conditional on the state it starts from, so a worker killed at any point and
started again takes the same step once: an event id fixed per rollout and tenant makes a
second queueing of the same change a no-op.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Final

from gitops_bot.store import outbox, rollouts
from gitops_bot.store.queue import Answer, Store

if TYPE_CHECKING:
    from gitops_bot.config import Settings
    from gitops_bot.store.rollouts import Rollout, Wave, WaveTenant

log = logging.getLogger(__name__)

# After the change landed, the tenant's latest status says how the release is doing.
_FAILED: Final = frozenset({"failed", "rejected", "deleted"})


def rollout_event_id(rollout_id: int, slug: str, *, revert: bool = False) -> str:
    """The queue's id of a rollout's change to one tenant: the same on every retry."""
    return f"rollout-{rollout_id}-{'revert-' if revert else ''}{slug}"


def queue_rollout_release(
    store: Store,
    settings: Settings,
    *,
    slug: str,
    release: str | None,
    event_id: str,
    reason: str,
) -> str | None:
    """Queue a `tenant.update` setting `slug`'s release (None: back to app.package).

    The same queue, policy (a review where it asks for one) and writer's checker as any
    update; the caller's transaction keeps it together with the rollout's own step. Returns
    why it cannot be queued, or None; an id queued already is left as it is.

    Not intake.releases.queue_release_change, which opens a transaction of its own: here
    the event and the wave's step must commit together, or a kill -9 between them would
    queue a change the rollout does not know it made. It also can set None, for an abort
    back to app.package, which no webhook may ask for.
    """
    tenant = store.tenant(slug)
    if tenant is None:
        return f"'{slug}' is no longer a tenant"
    if store.answer_for(event_id) is not None:
        return None
    delivery = settings.delivery_for("tenant.update", tenant.plan)
    if delivery == "direct" and not store.on_branch(slug):
        return f"'{slug}' is waiting for review of another change"
    data = {"slug": slug, "release": release, "reason": reason}
    store.record_event(
        event_id=event_id,
        event_type="tenant.update",
        body_sha256=hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
        answer=Answer(
            202, {"slug": slug, "status": "accepted", "statusUrl": f"/v1/tenants/{slug}"}
        ),
        status="pending",
        slug=slug,
        op="update",
        content=json.dumps({"release": release}),
        delivery=delivery,
        reason_given=reason,
    )
    return None


def observe(store: Store, tenant: WaveTenant) -> tuple[str, str | None]:
    """("waiting" | "live" | "failed", reason) for a tenant whose change was queued.

    Live on the release means: the change landed, and the tenant's latest status since
    then is `live` (the probe saw it answer after the deploy that carried the change).
    """
    outcome = None if tenant.event_id is None else store.event_outcome(tenant.event_id)
    if tenant.event_id is None or outcome is None or outcome[0] == "pending":
        return "waiting", None
    if outcome[0] != "done":
        return "failed", f"the change was refused: {outcome[1]}"
    since = rollouts.status_since(store.connection, tenant.slug, tenant.event_id, outcome[2] or "")
    if since is not None and since[0] == "live":
        return "live", None
    # A failure from before the operator resumed was seen already; only a new one counts.
    if since is not None and since[0] in _FAILED and since[2] >= (tenant.failures_after or 0.0):
        return "failed", f"{since[0]}: {since[1] or 'no reason recorded'}"
    return "waiting", None


class RolloutDriver:
    """One round at a time of the open rollout, as the state machine in the module says."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def tick(self, store: Store, now: float | None = None) -> str | None:
        """Advance the open rollout by what can be done now; its state after, or None."""
        now = time.time() if now is None else now
        # A wave may hold thousands of tenants: reading what each did happens before the
        # write lock is taken, so intake never waits on it; what is read stays true.
        seen = self._look(store)
        with store.transaction() as db:
            rollout = rollouts.open_rollout(db)
            if rollout is None:
                return None
            if rollout.state == "aborting":
                self._revert(store, rollout, now)
            elif rollout.state == "running":
                self._advance(store, rollout, now, seen)
            after = rollouts.get(db, rollout.id)
            return None if after is None else after.state

    @staticmethod
    def _look(store: Store) -> dict[tuple[int, str], tuple[str, str | None]]:
        """What each tenant of the open rollout's current wave did, read without the lock."""
        db = store.connection
        rollout = rollouts.open_rollout(db)
        if rollout is None or rollout.state != "running":
            return {}
        for wave in rollouts.waves(db, rollout.id):
            if wave.state in {"queued", "soaking"}:
                return {
                    (wave.number, tenant.slug): observe(store, tenant)
                    for tenant in rollouts.tenants(db, rollout.id, wave.number)
                }
        return {}

    def _advance(
        self,
        store: Store,
        rollout: Rollout,
        now: float,
        seen: dict[tuple[int, str], tuple[str, str | None]],
    ) -> None:
        db = store.connection
        for wave in rollouts.waves(db, rollout.id):
            if wave.state == "done":
                continue
            if wave.state == "pending":
                self._queue(store, rollout, wave, now)
                return
            # A tenant that fails during the soak halts the rollout as well.
            if not self._watch(store, rollout, wave, now, seen):
                return
            if wave.state == "queued":
                soak_until = now + rollout.soak
                rollouts.set_wave(db, rollout.id, wave.number, "soaking", soak_until=soak_until)
                log.info("rollout %d: wave %d is live; soaking", rollout.id, wave.number)
                return
            if wave.soak_until is not None and now < wave.soak_until:
                return
            rollouts.set_wave(db, rollout.id, wave.number, "done", done_at=now)
            log.info("rollout %d: wave %d is done", rollout.id, wave.number)
        rollouts.move(db, rollout.id, "completed", allowed_from=("running",), now=now)
        log.info("rollout %d of %s is complete", rollout.id, rollout.release)

    def _queue(self, store: Store, rollout: Rollout, wave: Wave, now: float) -> None:
        db = store.connection
        reason = f"rollout {rollout.id} of release {rollout.release}, wave {wave.number}"
        for tenant in rollouts.tenants(db, rollout.id, wave.number):
            event_id = rollout_event_id(rollout.id, tenant.slug)
            problem = queue_rollout_release(
                store,
                self.settings,
                slug=tenant.slug,
                release=rollout.release,
                event_id=event_id,
                reason=f"{reason}: {rollout.reason}",
            )
            if problem is not None:
                rollouts.set_tenant(db, rollout.id, tenant.slug, "failed", reason=problem)
                continue
            rollouts.set_tenant(db, rollout.id, tenant.slug, "queued", event_id=event_id)
        rollouts.set_wave(db, rollout.id, wave.number, "queued", queued_at=now)
        log.info("rollout %d: wave %d queued", rollout.id, wave.number)

    def _watch(
        self,
        store: Store,
        rollout: Rollout,
        wave: Wave,
        now: float,
        looked: dict[tuple[int, str], tuple[str, str | None]],
    ) -> bool:
        """Record what the wave's tenants did; True when every one is live on the release.

        The first failure halts the rollout; a soaking wave goes back to waiting, so its
        soak starts again once every tenant is live again after a resume.
        """
        db = store.connection
        waiting = False
        failures: list[tuple[str, str | None]] = []
        for tenant in rollouts.tenants(db, rollout.id, wave.number):
            seen, reason = looked.get((wave.number, tenant.slug), ("", None))
            if seen not in {"live", "waiting"}:
                # A failure is decided under the lock: the operator may have resumed since.
                seen, reason = observe(store, tenant)
            if tenant.state == "failed" and tenant.event_id is None:
                seen, reason = "failed", tenant.reason  # it could not even be queued
            if tenant.state == "live" and seen != "failed":
                continue
            if seen == "live":
                rollouts.set_tenant(db, rollout.id, tenant.slug, "live", live_at=now)
                outbox.enqueue_upgraded(
                    db,
                    key=tenant.rowid,
                    slug=tenant.slug,
                    release=rollout.release,
                    previous=tenant.previous_release,
                    rollout_id=rollout.id,
                    at=now,
                )
            elif seen == "failed":
                rollouts.set_tenant(db, rollout.id, tenant.slug, "failed", reason=reason)
                failures.append((tenant.slug, reason))
            else:
                waiting = True
        if failures:
            slug, reason = failures[0]
            rollouts.move(
                db,
                rollout.id,
                "halted",
                allowed_from=("running",),
                now=now,
                halted_slug=slug,
                halt_reason=f"{slug} failed in wave {wave.number}: {reason}",
            )
            rollouts.set_wave(db, rollout.id, wave.number, "queued")
            log.warning("rollout %d halted: %s failed: %s", rollout.id, slug, reason)
            return False
        return not waiting

    def _revert(self, store: Store, rollout: Rollout, now: float) -> None:
        """Queue the current wave's tenants back to the release each had before, then stop."""
        db = store.connection
        for wave in rollouts.waves(db, rollout.id):
            if wave.state not in {"queued", "soaking"}:
                continue
            for tenant in rollouts.tenants(db, rollout.id, wave.number):
                if tenant.event_id is None:
                    continue
                event_id = rollout_event_id(rollout.id, tenant.slug, revert=True)
                problem = queue_rollout_release(
                    store,
                    self.settings,
                    slug=tenant.slug,
                    release=tenant.previous_release,
                    event_id=event_id,
                    reason=f"abort of rollout {rollout.id} of release {rollout.release}",
                )
                rollouts.set_tenant(
                    db,
                    rollout.id,
                    tenant.slug,
                    "reverted" if problem is None else "failed",
                    reason=problem or tenant.reason,
                    revert_event_id=None if problem else event_id,
                )
            rollouts.set_wave(db, rollout.id, wave.number, "reverted", done_at=now)
        rollouts.move(db, rollout.id, "aborted", allowed_from=("aborting",), now=now)
        log.info("rollout %d aborted; its current wave is queued back", rollout.id)


class RolloutRunner:
    """The driver as a thread of `gitops-bot worker`, beside the writer and the probe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.driver = RolloutDriver(settings)
        self.failed = False
        self.interval = min(1.0, max(settings.poll_interval, 0.05))

    def run_until(self, stop: threading.Event) -> None:
        try:
            with Store(self.settings.database_path, synchronous=self.settings.synchronous) as store:
                while not stop.is_set():
                    self.driver.tick(store)
                    stop.wait(self.interval)
        except Exception:
            # As the probe's: the worker stops with an error, and `serve` restarts it.
            log.exception("the rollout driver failed; stopping the worker")
            self.failed = True
            stop.set()
