"""The worker's liveness loop: probe deployed tenants' URLs, then record `live` or `failed`."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from gitops_bot.deploy.liveness import LivenessPolicy, LivenessWatch
from gitops_bot.deploy.probe import Prober, ProbeSpec, system_resolver
from gitops_bot.deploy.pull import UNSEEN, PullTracker
from gitops_bot.store import domainchecks
from gitops_bot.store.queue import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from gitops_bot.config import Settings
    from gitops_bot.deploy.liveness import Verdict

log = logging.getLogger(__name__)


def policy_from(settings: Settings) -> LivenessPolicy:
    def spec(path: str, expected: Sequence[int]) -> ProbeSpec:
        return ProbeSpec(
            path=path,
            expected=frozenset(expected),
            timeout=settings.probe_timeout,
            port=settings.probe_port,
        )

    return LivenessPolicy(
        successes=settings.probe_successes,
        interval=settings.probe_interval,
        max_interval=max(settings.probe_interval, settings.probe_max_interval),
        deadline=settings.probe_deadline,
        concurrency=settings.probe_concurrency,
        specs={plan: spec(p.path, p.expected) for plan, p in settings.probe_plans.items()},
        default=spec(settings.probe_path, settings.probe_expected),
    )


def resolver_for(settings: Settings) -> Callable[[str, int], Sequence[str]]:
    """DNS, except for the names the operator (or a test) pinned to an address."""
    pinned = dict(settings.probe_resolve)

    def resolve(name: str, port: int) -> Sequence[str]:
        if name in pinned:
            return [pinned[name]]
        return system_resolver(name, port)

    return resolve


class LiveRunner:
    """Watches every tenant a deploy reached until its URL answers, beside the writer.

    Probing happens in this thread and its small pool, never in the writer's loop, so no
    probe delays a commit; the store is only touched to read who waits and to record verdicts.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        prober: Prober | None = None,
        pull: PullTracker | None = None,
    ) -> None:
        self.settings = settings
        # What comin hosts run, when the worker can tell (deploy/pull.py).
        self.pull = pull
        self.watch = LivenessWatch(
            prober or Prober(resolve=resolver_for(settings), ca_file=settings.probe_ca_file),
            policy_from(settings),
        )
        # Deployed tenants, and those whose deploy the bot cannot see (when asked).
        self.starts = ("deployed", "evaluated") if settings.probe_evaluated else ("deployed",)
        self.failed = False

    def run(self, store: Store) -> list[Verdict]:
        """One round: watch newcomers, drop tenants that moved on, record what was learned."""
        inventory = store.inventory()
        if inventory is None:
            return []
        if self.pull is not None:
            # First, so that a tenant a comin host now runs is watched from this round on.
            self.pull.run(store, inventory)
        waiting = store.slugs_with_status(*self.starts) | self._unseen_on_blind_hosts(store)
        # A tenant the probe failed stays watched: a late certificate still makes it live.
        still = waiting | (store.slugs_with_status("failed") & self.watch.watching)
        for slug in self.watch.watching - still:
            self.watch.forget(slug)
        for slug in sorted(waiting - self.watch.watching):
            tenant = store.tenant(slug)
            if tenant is None:
                continue
            # A custom domain still waiting for its DNS proof has no vhost yet: not probed.
            unproven = {
                check.domain
                for check in domainchecks.for_slug(store.connection, slug)
                if check.state != "verified"
            }
            verified = [domain for domain in tenant.domains if domain not in unproven]
            names = [f"{slug}.{inventory.base_domain}", *verified]
            self.watch.watch(slug, names, tenant.plan)
        verdicts = self.watch.run_once()
        with store.transaction():
            for verdict in verdicts:
                url = f"https://{verdict.slug}.{inventory.base_domain}/"
                reason = verdict.detail if verdict.status == "failed" else None
                store.add_transition(verdict.slug, verdict.status, url=url, reason=reason)
                log.info("tenant %s is %s: %s", verdict.slug, verdict.status, verdict.detail)
        return verdicts

    def _unseen_on_blind_hosts(self, store: Store) -> set[str]:
        """Tenants of comin hosts the bot cannot see: no deploy will be reported for them."""
        blind = set() if self.pull is None else self.pull.blind
        if not blind:
            return set()
        return store.slugs_with_status(*UNSEEN) & set(store.hosts_of_tenants_on(blind))

    def run_until(self, stop: threading.Event) -> None:
        """Rounds until `stop` is set; an unexpected error stops the worker, as the evaluator's."""
        try:
            with Store(self.settings.database_path, synchronous=self.settings.synchronous) as store:
                while not stop.is_set():
                    self.run(store)
                    due = self.watch.next_due()
                    wait = self.settings.probe_interval if due is None else due - time.monotonic()
                    stop.wait(min(max(wait, 0.2), self.settings.probe_interval))
        except Exception:
            # As the evaluator's: the worker stops with an error, and `serve` restarts it.
            log.exception("the liveness probe failed; stopping the worker")
            self.failed = True
            stop.set()
        finally:
            if self.pull is not None:
                self.pull.close()
