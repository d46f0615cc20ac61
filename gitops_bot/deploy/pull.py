"""What pulling hosts run: each comin exporter's commit, matched to tenants by git ancestry."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from gitops_bot.backends.base import BackendError
from gitops_bot.contract.lifecycle import PROGRESS
from gitops_bot.deploy.comin import HostDeployment, ScrapeError, scrape

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from gitops_bot.backends.base import StateRepo
    from gitops_bot.contract.inventory import Host, Inventory
    from gitops_bot.store.queue import Store

    Scrape = Callable[[str], HostDeployment | None]

log = logging.getLogger(__name__)

# On the branch, and no deploy of it seen yet: what a host's commit may have taken live.
UNSEEN: Final = ("committed", "merged", "evaluated", "deploying")
_CONCURRENCY: Final = 8
# Ancestry answers kept; two commits' answer never changes, so this only bounds memory.
_KEPT: Final = 10_000


class PullTracker:
    """Each round, asks every comin host with an exporter what it last deployed.

    A tenant on that host whose commit (the one that put it on the branch) is the host's
    commit or an ancestor of it is `deployed` when comin reports "done", `failed` when
    comin reports "failed". Hosts that pull but cannot be seen (no exporter in the
    inventory, an exporter that does not answer, or no deployment yet) are `blind`: the
    liveness probe alone decides for their tenants.
    """

    def __init__(
        self,
        open_repo: Callable[[], StateRepo],
        *,
        interval: float,
        timeout: float,
        scraper: Scrape | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Opened at the first question, so a fleet without comin hosts never opens it.
        self._open_repo = open_repo
        self._repo: StateRepo | None = None
        self.interval = interval
        self._scrape = scraper or (lambda address: scrape(address, timeout=timeout))
        self._clock = clock
        self._next = 0.0
        self._known: dict[tuple[str, str], bool] = {}
        self.seen: dict[str, HostDeployment] = {}
        self.errors: dict[str, str] = {}
        self.blind: frozenset[str] = frozenset()

    def run(self, store: Store, inventory: Inventory) -> None:
        """Scrape when due, then record what the hosts' commits mean for their tenants."""
        pulling = {name: host for name, host in inventory.hosts.items() if host.pulls}
        if not pulling:
            self.seen, self.errors, self.blind = {}, {}, frozenset()
            return
        if self._clock() < self._next:
            return
        self._next = self._clock() + self.interval
        self._look(pulling)
        self.blind = frozenset(pulling) - frozenset(self.seen)
        if self.seen:
            self._record(store, inventory)

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def _look(self, pulling: Mapping[str, Host]) -> None:
        visible = {name: host.exporter for name, host in pulling.items() if host.exporter}
        seen: dict[str, HostDeployment] = {}
        errors: dict[str, str] = {}

        def ask(name: str) -> tuple[str, HostDeployment | None, str | None]:
            try:
                return name, self._scrape(visible[name]), None
            except ScrapeError as error:
                return name, None, str(error)

        with ThreadPoolExecutor(max_workers=min(_CONCURRENCY, len(visible) or 1)) as pool:
            for name, deployment, error in pool.map(ask, sorted(visible)):
                if error is not None:
                    errors[name] = error
                    if self.errors.get(name) != error:
                        log.warning("comin on %s cannot be read: %s", name, error)
                elif deployment is not None:
                    seen[name] = deployment
        self.seen, self.errors = seen, errors

    def _record(self, store: Store, inventory: Inventory) -> None:
        waiting = store.slugs_with_status(*UNSEEN, "failed")
        placed = store.hosts_of_tenants_on(self.seen)
        hosts = {slug: placed[slug] for slug in waiting if slug in placed}
        commits = store.branch_commits(hosts)
        # Ancestry may ask GitHub: decided before the transaction, which holds the write lock.
        included = [
            (slug, host)
            for slug, host in sorted(hosts.items())
            if (ancestor := commits.get(slug)) is not None
            and self._includes(self.seen[host].commit, ancestor)
        ]
        with store.transaction():
            for slug, host in included:
                if store.last_status(slug) == "failed" and _reached_deploy(store, slug):
                    continue  # failed later in life (an update refused): its deploy was seen
                self._report(store, slug, host, self.seen[host], inventory.base_domain)

    def _report(
        self, store: Store, slug: str, host: str, deployment: HostDeployment, base_domain: str
    ) -> None:
        url = f"https://{slug}.{base_domain}/"
        commit = deployment.commit
        if deployment.done:
            if store.add_transition(slug, "deployed", commit_sha=commit, url=url):
                log.info("tenant %s is deployed: comin on %s runs %s", slug, host, commit[:12])
        elif deployment.failed:
            reason = (
                f"comin on {host} failed to deploy {commit[:12]}; the host keeps its previous "
                "system (see `comin status` or journalctl -u comin there)"
            )
            store.add_transition(slug, "failed", commit_sha=commit, url=url, reason=reason)
        else:
            store.add_transition(slug, "deploying", commit_sha=commit, url=url)

    def _includes(self, commit: str, ancestor: str) -> bool:
        key = (commit, ancestor)
        if key in self._known:
            return self._known[key]
        if self._repo is None:
            self._repo = self._open_repo()
        try:
            answer = self._repo.descends(commit, ancestor)
        except BackendError as error:
            log.warning("cannot tell whether %s includes %s: %s", commit[:12], ancestor[:12], error)
            return False
        if answer is None:
            return False  # a commit not fetched yet: asked again next round
        if len(self._known) >= _KEPT:
            self._known.clear()
        self._known[key] = answer
        return answer


def _reached_deploy(store: Store, slug: str) -> bool:
    return any(
        PROGRESS.get(t["status"], 0) >= PROGRESS["deployed"] for t in store.transitions(slug)
    )
