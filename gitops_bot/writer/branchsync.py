"""What the queue learns from the main branch it did not write: merges made elsewhere,
and after a lost database, the tenants and reviews it had forgotten."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Final

from gitops_bot.backends.base import AddedIn, StateRepo
from gitops_bot.contract.checker import check_file
from gitops_bot.contract.tenant import REVIEW_PREFIX, Tenant, slug_problem, tenant_path
from gitops_bot.store import domainchecks, notices
from gitops_bot.store.queue import Store
from gitops_bot.writer.changes import Tree

log = logging.getLogger(__name__)

# How many tenants a notice names; the rest it counts.
_NAMED: Final = 5


class BranchSync:
    """Keeps the queue's view of the main branch (names, seats, statuses) in step with it."""

    def __init__(self, *, store: Store, repo: StateRepo, branch: str) -> None:
        self.store = store
        self.repo = repo
        self.branch = branch

    def follow(self, tree: Tree) -> None:
        """Bring the queue's view in line with `tree`, the branch head just read."""
        snapshot, synced = tree.snapshot, self.store.synced_head()
        if tree.inventory is None or synced == snapshot.sha:
            return
        arrived, gone = self.store.sync_repo(snapshot.sha, tree.inventory, tree.repo_tenants())
        # A review merged elsewhere (on GitHub, or by hand) shows up as a tenant that
        # arrived on the branch, or left it.
        reviewed = [(slug, "merged") for slug in arrived] + [(slug, "deleted") for slug in gone]
        unknown = [slug for slug in arrived if self.store.last_status(slug) is None]
        # Read before the transaction: no I/O while holding the queue's write lock.
        added_in = self._added_in(tree, unknown)
        with self.store.transaction():
            for slug, status in reviewed:
                if self.store.last_status(slug) == "pr_open":
                    self.store.add_transition(slug, status, commit_sha=snapshot.sha)
            for slug in unknown:
                self._recover(slug, added_in.commits.get(tenant_path(slug)))
            unreached = [slug for slug in unknown if tenant_path(slug) in added_in.unreached]
            if unreached:
                self._report_unreached(unreached, added_in.bound)
            tenants = [r.tenant for r in tree.results.values() if r is not None and r.tenant]
            track_pending_domains(self.store, tenants, tree.inventory.base_domain)
        if synced is None:  # a new queue file: reviews in progress are not in it either
            self._recover_reviews(set(unknown))
            self._recover_uids()

    def _added_in(self, tree: Tree, slugs: list[str]) -> AddedIn:
        if not slugs:
            return AddedIn({})
        origins = {}
        for slug in slugs:
            result = tree.results.get(tenant_path(slug))
            if result is not None and result.tenant is not None:
                origins[tenant_path(slug)] = result.tenant.origin
        return self.repo.added_in(self.branch, "tenants", origins)

    def _recover(self, slug: str, sha: str | None) -> None:
        """A tenant on the branch the queue has no record of (a lost database, or one added
        by hand): its story starts at the commit that added its file, when known."""
        # Not news to the landing page: after a lost database it would hear of every tenant.
        self.store.add_transition(
            slug,
            "committed",
            commit_sha=sha,
            reason="recovered from the state repo's history",
            notify=False,
        )

    def _report_unreached(self, slugs: list[str], bound: str) -> None:
        """Tenants recovered without their commit because the history search stopped short:
        they are on the branch, so they are recovered all the same, and the operator hears
        why `gitops-bot history` will not name the commit that added them."""
        shown = ", ".join(sorted(slugs)[:_NAMED]) + (", ..." if len(slugs) > _NAMED else "")
        text = (
            f"{len(slugs):,} tenants were recovered from the branch after a lost database "
            f"without the commit that added them: the history search stopped at {bound} "
            f"({shown})."
        )
        log.warning("%s", text)
        notices.post(self.store.connection, "recovery", text)

    def _recover_uids(self) -> None:
        """Keep the uid counter above the tenants history removed (a lost database): their
        files may still be on a host, and a new tenant must never own them."""
        uids = []
        for content in self.repo.removed_files(self.branch, "tenants"):
            try:
                uid = json.loads(content).get("uid")
            except (ValueError, AttributeError):
                continue
            if isinstance(uid, int) and not isinstance(uid, bool):
                uids.append(uid)
        with self.store.transaction():
            self.store.raise_next_uid(uids)

    def _recover_reviews(self, recovered: set[str]) -> None:
        """Reviews in progress that the queue has no record of (a lost database): each is
        `pr_open` again, and a new tenant's name, domains and seat are held for it, so
        that no signup takes them while the reviewer decides."""
        found: list[tuple[Tenant | None, str, str]] = []
        for branch, url in sorted(self.repo.open_reviews(REVIEW_PREFIX).items()):
            slug = branch.removeprefix(REVIEW_PREFIX)
            if slug_problem(slug, allow_reserved=True) is not None:
                continue
            if slug not in recovered and self.store.last_status(slug) is not None:
                continue
            review_head = self.repo.snapshot(branch)
            blob = None if review_head is None else review_head.files.get(tenant_path(slug))
            tenant = None
            if blob is not None:
                tenant = check_file(tenant_path(slug), self.repo.read_blobs([blob])[blob]).tenant
            found.append((tenant, slug, url))
        with self.store.transaction():
            self.store.raise_next_uid(tenant.uid for tenant, _slug, _url in found if tenant)
            for tenant, slug, url in found:
                if tenant is not None and not self.store.slug_taken(slug):
                    self.store.reserve(
                        slug=slug,
                        host=tenant.host,
                        plan=tenant.plan,
                        domains=tenant.claimed_domains,
                    )
                self.store.add_transition(
                    slug, "pr_open", url=url, reason="recovered from an open review", notify=False
                )
        if found:
            log.info("recovered %d open reviews", len(found))


def track_pending_domains(store: Store, tenants: Iterable[Tenant], base_domain: str) -> None:
    """Every pending domain on the branch gets a DNS check: one added by hand in a reviewed
    pull request, all of them after a lost database, and one removed and asked for again."""
    for tenant in tenants:
        for domain in tenant.pending_domains or ():
            domainchecks.track(
                store.connection,
                slug=tenant.slug,
                domain=domain,
                cname_target=f"{tenant.slug}.{base_domain}",
                now=time.time(),
                first_delay=0,
                renew=False,
                still_pending=True,
            )
