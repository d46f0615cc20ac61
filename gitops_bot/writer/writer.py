"""The writer: drains the queue into checked commits, on the branch or on review branches."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from gitops_bot.backends.base import BackendError, Snapshot, StateRepo
from gitops_bot.config import Settings
from gitops_bot.contract.checker import (
    FileResult,
    check_file,
    is_tenant_path,
    link_problems,
    parse_inventory,
)
from gitops_bot.contract.inventory import INVENTORY_PATH
from gitops_bot.store import errorlog
from gitops_bot.store.queue import QueuedEvent, Store
from gitops_bot.writer.branchsync import BranchSync, track_pending_domains
from gitops_bot.writer.changes import Applied, Tree, apply_events
from gitops_bot.writer.hostcheck import HostCheck, HostsBroken
from gitops_bot.writer.messages import commit_message
from gitops_bot.writer.reviews import ReviewLane, landing_status

log = logging.getLogger(__name__)

# How long the writer waits after the state repo failed, doubling up to the maximum.
_BACKOFF_START: Final = 0.5
_BACKOFF_MAX: Final = 30.0
# How often an idle writer re-reads the branch for changes made by others.
_RESYNC_INTERVAL: Final = 30.0


class BranchBroken(Exception):
    """The branch head itself fails the checker, so nothing may be committed on top of it."""


def lanes(events: Sequence[QueuedEvent]) -> tuple[list[QueuedEvent], dict[str, list[QueuedEvent]]]:
    """Split a batch into direct events and review events per slug, keeping each slug's order.

    An event whose slug already has an earlier event in another lane waits for the next
    round, so a tenant's events always apply in the order they were accepted.
    """
    direct: list[QueuedEvent] = []
    reviews: dict[str, list[QueuedEvent]] = {}
    lane_of: dict[str, str] = {}
    for event in events:
        if event.op == "merge":
            lane = f"merge:{event.slug}"
        else:
            lane = "direct" if event.delivery == "direct" else f"review:{event.slug}"
        if lane_of.setdefault(event.slug, lane) != lane:
            continue
        if lane == "direct":
            direct.append(event)
        else:
            reviews.setdefault(lane, []).append(event)
    return direct, reviews


class Writer:
    """The only process that writes to the state repo."""

    def __init__(
        self,
        *,
        store: Store,
        repo: StateRepo,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.repo = repo
        self.settings = settings
        self.branch = settings.branch
        self.clock = clock
        # When the writer first saw the events it is gathering for the next commit.
        self._gathering_since: float | None = None
        self.host_check = HostCheck(repo) if settings.host_check else None
        self.reviews = ReviewLane(
            store=store, repo=repo, settings=settings, reread=self.head, veto=self.host_check
        )
        self.branch_sync = BranchSync(store=store, repo=repo, branch=self.branch)
        # Checking a file is a pure function of its path and bytes, so results are kept
        # per blob: a new head costs only the files that changed.
        self._checked: dict[tuple[str, str], FileResult] = {}

    # --- reading the branch -------------------------------------------------------------

    def head(self) -> Tree:
        """The main branch as it is now, checked, and synced into the queue's view."""
        snapshot = self.repo.snapshot(self.branch) or self._seed()
        tree = self._tree(snapshot)
        self.branch_sync.follow(tree)
        return tree

    def _seed(self) -> Snapshot:
        """Give an empty remote its first commit: tenants/ and nix/ from the seed directory."""
        seed_dir = self.settings.seed_dir
        files = {
            path.relative_to(seed_dir).as_posix(): path.read_bytes()
            for folder in ("tenants", "nix")
            for path in sorted((seed_dir / folder).rglob("*"))
            if path.is_file() and not any(part.startswith((".", "__")) for part in path.parts)
        }
        if INVENTORY_PATH not in files:
            raise BackendError(
                f"cannot seed the state repo: {seed_dir / INVENTORY_PATH} is missing"
            )
        sha = self.repo.commit([], files, "Seed the state repo with tenants/ and nix/\n")
        if not self.repo.advance(self.branch, sha):
            log.info("another writer seeded %s first", self.branch)
        snapshot = self.repo.snapshot(self.branch)
        if snapshot is None:
            raise BackendError(f"branch {self.branch} is still missing after seeding")
        return snapshot

    def _tree(self, snapshot: Snapshot) -> Tree:
        wanted = {(path, blob) for path, blob in snapshot.files.items() if is_tenant_path(path)}
        inventory_blob = snapshot.files.get(INVENTORY_PATH)
        unread = {blob for _path, blob in wanted - self._checked.keys()}
        if inventory_blob is not None:
            unread.add(inventory_blob)
        rules = set() if self.host_check is None else self.host_check.unread(snapshot)
        contents = self.repo.read_blobs(unread | rules)
        if self.host_check is not None:
            self.host_check.remember({blob: contents[blob] for blob in rules})
        checked = {
            key: self._checked.get(key) or check_file(key[0], contents[key[1]]) for key in wanted
        }
        self._checked = checked  # forget files that left the branch: memory stays flat
        inventory, problems = parse_inventory(
            None if inventory_blob is None else contents[inventory_blob]
        )
        return Tree(
            snapshot=snapshot,
            inventory=inventory,
            inventory_problems=(*link_problems(snapshot.links), *problems),
            results={path: result for (path, _blob), result in checked.items()},
        )

    # --- writing ------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Commit what is pending now; the number of events it settled."""
        events = self.store.pending(self.settings.batch_limit)
        if not events or self._gathering(events):
            return 0
        self._gathering_since = None
        tree = self.head()
        if not (base := tree.check({})).ok:
            raise BranchBroken("; ".join(str(p) for p in base.problems[:5]))
        direct, reviews = lanes(self._settle_landed(events))
        if direct:
            self._commit_direct(tree, direct)
        stale = bool(direct)  # a review is checked against the main branch as it is now
        for lane in reviews.values():
            if stale:
                tree, stale = self.head(), False
            if lane[0].op == "merge":
                self.reviews.merge(tree, lane[0])
                stale = True
            else:
                self.reviews.commit(tree, lane)
        return len(events)

    def _gathering(self, events: list[QueuedEvent]) -> bool:
        """Whether to wait for more events before committing these.

        On GitHub every commit costs API requests; gathering events for a few seconds
        turns a trickle of signups into a handful of commits. A full batch goes at once.
        """
        window = self.settings.effective_commit_window
        if window <= 0 or len(events) >= self.settings.batch_limit:
            return False
        now = self.clock()
        if self._gathering_since is None:
            self._gathering_since = now
        return now - self._gathering_since < window

    def _settle_landed(self, events: list[QueuedEvent]) -> list[QueuedEvent]:
        """Mark events whose commit landed before a crash; return the others.

        Review events are left to the review lane: applying them again to their branch is a
        no-op, and the lane then makes sure their review is open, which a crash between
        the push and the pull request would otherwise have skipped.
        """
        remaining = []
        for event in events:
            reviewed = event.delivery != "direct" and event.op != "merge"
            if reviewed or event.attempt_sha is None or not self._landed(event.attempt_sha):
                remaining.append(event)
                continue
            log.info(
                "event %s landed before a restart in %s",
                event.id,
                event.attempt_sha,
                extra={"event_id": event.id, "slug": event.slug},
            )
            # The queue's view of the branch catches up at the next full sync.
            self.store.mark_done([event], event.attempt_sha, landing_status(event))
        return remaining

    def _landed(self, sha: str) -> bool:
        return self.repo.contains(self.branch, sha)

    def _settle(self, tree: Tree, applied: Applied) -> None:
        for event, reason in applied.failed:
            log.warning(
                "event %s failed: %s",
                event.id,
                reason,
                extra={"event_id": event.id, "slug": event.slug},
            )
            self.store.mark_failed(event, reason)
        if applied.already:
            self.store.mark_done(applied.already, tree.snapshot.sha, landing_status)

    def _commit_direct(self, tree: Tree, events: list[QueuedEvent]) -> None:
        """One commit on the branch for all `events`; rebuilt on the new head if it moved."""
        for attempt in range(1, self.settings.push_attempts + 1):
            applied = apply_events(tree, events, branch=self.branch, veto=self.host_check)
            self._settle(tree, applied)
            if not applied.kept:
                return
            events = applied.carried
            message = commit_message(events, applied.results)
            sha = self.repo.commit([tree.snapshot.sha], applied.changes, message)
            # Write-ahead: if we die after the push, a restart finds this sha on the branch.
            self.store.record_attempt(events, sha)
            if self.repo.advance(self.branch, sha):
                self.store.mark_done(events, sha, landing_status, landed=applied.landed())
                self._track_domains(tree, applied)
                one = {"event_id": events[0].id, "slug": events[0].slug} if len(events) == 1 else {}
                log.info("committed %d events in %s", len(events), sha[:12], extra=one)
                return
            log.info("branch %s moved (attempt %d); rebuilding the batch", self.branch, attempt)
            tree = self.head()
        log.warning(
            "gave up after %d attempts; the events stay queued", self.settings.push_attempts
        )

    def _track_domains(self, tree: Tree, applied: Applied) -> None:
        if tree.inventory is None:
            return
        tenants = [r.tenant for r in applied.results.values() if r is not None and r.tenant]
        with self.store.transaction():
            track_pending_domains(self.store, tenants, tree.inventory.base_domain)

    def run(self, stop: threading.Event) -> None:
        """Drain the queue until `stop` is set, backing off while the state repo fails."""
        backoff = _BACKOFF_START
        last_read = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_read > _RESYNC_INTERVAL:
                    # Also when idle: reviewers merge by hand, and intake must see it.
                    self.head()
                    last_read = time.monotonic()
                settled = self.drain_once()
            except (BackendError, BranchBroken, HostsBroken) as problem:
                log.error("writer paused for %.1fs: %s", backoff, problem)  # noqa: TRY400
                errorlog.remember(self.store, "writer", str(problem))
                stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_START
            if not settled:
                stop.wait(self.settings.poll_interval)


@contextmanager
def writer_lock(state_dir: Path) -> Iterator[None]:
    """Hold the one writer's lock; the kernel drops it when the process dies, even by kill -9."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "writer.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another writer holds %s; waiting for it to stop", handle.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
