"""Review branches tenant/<slug>: commits to them, their reviews, and local merges."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from gitops_bot.backends.base import Snapshot, StateRepo
from gitops_bot.config import Settings
from gitops_bot.contract.checker import FileResult, check_file
from gitops_bot.contract.lifecycle import status_on_landing
from gitops_bot.contract.tenant import review_branch, tenant_path
from gitops_bot.nix import plan
from gitops_bot.store.queue import QueuedEvent, Store
from gitops_bot.writer.changes import Tree, Veto, apply_events, repo_tenant
from gitops_bot.writer.messages import commit_message, merge_message, review_text

log = logging.getLogger(__name__)


def landing_status(event: QueuedEvent) -> str:
    return status_on_landing(event.type, delivery=event.delivery, op=event.op)


class ReviewLane:
    """The writer's work on review branches; `reread` gives it the main branch anew."""

    def __init__(
        self,
        *,
        store: Store,
        repo: StateRepo,
        settings: Settings,
        reread: Callable[[], Tree],
        veto: Veto | None = None,
    ) -> None:
        self.veto = veto
        self.store = store
        self.repo = repo
        self.settings = settings
        self.branch = settings.branch
        self.reread = reread

    def commit(self, tree: Tree, events: list[QueuedEvent]) -> None:
        """Commit one tenant's events to its review branch and open or update its review.

        The events apply to the tenant's file as the review branch has it, but are
        checked against the main branch plus that file: what a merge will produce.
        """
        slug = events[0].slug
        branch, path = review_branch(slug), tenant_path(slug)
        for _attempt in range(self.settings.push_attempts):
            review_head = self._live(branch, path, events, tree)
            base = tree
            if review_head is not None:
                base = Tree(
                    snapshot=tree.snapshot,
                    inventory=tree.inventory,
                    inventory_problems=tree.inventory_problems,
                    results={**tree.results, **self._file_on(review_head, path)},
                )
            applied = apply_events(base, events, branch=branch, veto=self.veto)
            for event, reason in applied.failed:
                self.store.mark_failed(event, reason)
            if not applied.kept:
                if applied.already and review_head is not None:
                    # On the branch already (a redelivery, or a crash before the review).
                    self._open(branch, applied.already, base.results, tree, review_head.sha)
                return
            parent = review_head.sha if review_head is not None else tree.snapshot.sha
            message = commit_message(applied.carried, applied.results)
            sha = self.repo.commit([parent], applied.changes, message)
            self.store.record_attempt(applied.carried, sha)
            if self.repo.advance(branch, sha):
                events = [*applied.already, *applied.carried]
                self._open(branch, events, {**base.results, **applied.results}, tree, sha)
                return
            events = [*applied.already, *applied.carried]
        log.warning(
            "review branch %s kept moving; the events stay queued", branch, extra={"slug": slug}
        )

    def _live(
        self, branch: str, path: str, events: list[QueuedEvent], tree: Tree
    ) -> Snapshot | None:
        """The review branch's head, unless it is left over from a review that was closed.

        A signup whose slug was refused in review may come back; its old branch (with
        another event's file) would otherwise block the new review forever.
        """
        review_head = self.repo.snapshot(branch)
        if review_head is None or path in tree.results:
            return review_head
        blob = review_head.files.get(path)
        creates = {event.id for event in events if event.op == "create"}
        if blob is None or not creates:
            return review_head
        left = check_file(path, self.repo.read_blobs([blob])[blob])
        if left.tenant is not None and left.tenant.origin in creates:
            return review_head
        log.info("replacing review branch %s left by a closed review", branch)
        self.repo.delete_branch(branch)
        return None

    def _open(
        self,
        branch: str,
        events: list[QueuedEvent],
        results: Mapping[str, FileResult | None],
        tree: Tree,
        sha: str,
    ) -> None:
        path = tenant_path(events[-1].slug)
        plan_text = self._plan(tree, path, results, sha) if self.repo.describes_reviews else None
        review = review_text(branch, events, results, tree, plan_text)
        url = self.repo.open_review(review)
        self.store.mark_done(events, sha, landing_status, url=url or branch)
        log.info(
            "opened review %s for %s",
            url or branch,
            events[-1].slug,
            extra={"event_id": events[-1].id, "slug": events[-1].slug},
        )

    def _plan(
        self, main: Tree, path: str, results: Mapping[str, FileResult | None], sha: str
    ) -> str:
        """`gitops-bot plan` of the main branch against it with this review merged, in markdown.

        A plan that cannot be made is said in the review rather than holding it back: the
        checker has passed, and the validate workflow evaluates nix/ again on the PR.
        """
        # What deploys: nix/ without its own tests (fixtures, stubs) that no host reads.
        files = main.snapshot.files
        rules = {
            name: blob
            for name, blob in files.items()
            if name.startswith("nix/") and not name.startswith("nix/tests/")
        }
        blobs = self.repo.read_blobs(set(rules.values()))
        before, after = main.results.get(path), results.get(path)
        try:
            report = plan.plan_change(
                {name: blobs[blob] for name, blob in rules.items()},
                {} if before is None else {path: before.text.encode()},
                {} if after is None else {path: after.text.encode()},
                base=main.snapshot.sha,
                head=sha,
            )
        except plan.PlanError as error:
            log.warning("no plan for review of %s: %s", path, error)
            return f"The plan could not be made: {error}"
        return plan.render(report, "markdown")

    def _file_on(self, snapshot: Snapshot, path: str) -> dict[str, FileResult | None]:
        blob = snapshot.files.get(path)
        if blob is None:
            return {path: None}
        return {path: check_file(path, self.repo.read_blobs([blob])[blob])}

    def merge(self, tree: Tree, event: QueuedEvent) -> None:
        """Merge a tenant's review branch into the main branch, after checking the result.

        This is the local backend's stand-in for a reviewer pressing "merge".
        """
        branch, path = review_branch(event.slug), tenant_path(event.slug)
        for _attempt in range(self.settings.push_attempts):
            review_head = self.repo.snapshot(branch)
            if review_head is None:
                self.store.mark_failed(event, f"there is no review branch {branch}")
                return
            change = self._file_on(review_head, path)
            if not (report := tree.check(change)).ok:
                self.store.mark_failed(event, "; ".join(str(p) for p in report.problems[:5]))
                return
            if self.veto is not None and (vetoed := self.veto(tree, change)):
                self.store.mark_failed(event, "; ".join(vetoed.values()))
                return
            merged = change[path]
            changes = {path: None if merged is None else merged.text.encode()}
            message = merge_message(branch, event)
            sha = self.repo.commit([tree.snapshot.sha, review_head.sha], changes, message)
            self.store.record_attempt([event], sha)
            if self.repo.advance(self.branch, sha):
                self.repo.delete_branch(branch)
                tenant = None if merged is None or merged.tenant is None else merged.tenant
                landed = {event.slug: None if tenant is None else repo_tenant(tenant)}
                status = "deleted" if merged is None else "merged"
                self.store.mark_done([event], sha, status, landed=landed)
                return
            tree = self.reread()
