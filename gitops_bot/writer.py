"""The writer: drains the queue into checked group commits on the state repo's branch."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from gitops_bot.backends import BackendError, Snapshot, StateRepo
from gitops_bot.checker import (
    FileResult,
    Problem,
    Report,
    check_file,
    check_fleet,
    is_tenant_path,
    parse_inventory,
)
from gitops_bot.config import Settings
from gitops_bot.inventory import INVENTORY_PATH, Inventory
from gitops_bot.queue import QueuedEvent, RepoTenant, Store
from gitops_bot.tenant import Tenant, tenant_path

log = logging.getLogger(__name__)

TRAILER: Final = "Gitops-Event"
# How long the writer waits after the state repo failed, doubling up to the maximum.
_BACKOFF_START: Final = 0.5
_BACKOFF_MAX: Final = 30.0
# How often an idle writer re-reads the branch for changes made by others.
_RESYNC_INTERVAL: Final = 30.0


class BranchBroken(Exception):
    """The branch head itself fails the checker, so nothing may be committed on top of it."""


@dataclass(frozen=True)
class Tree:
    """A branch head with every file already checked on its own."""

    snapshot: Snapshot
    inventory: Inventory | None
    inventory_problems: tuple[Problem, ...]
    results: Mapping[str, FileResult]

    def check(self, changes: Mapping[str, FileResult | None]) -> Report:
        """The checker's verdict on this tree with `changes` applied (None deletes)."""
        results = {**self.results, **changes}
        report = check_fleet((r for r in results.values() if r is not None), self.inventory)
        report.problems[:0] = self.inventory_problems
        return report


def commit_message(events: Sequence[QueuedEvent], tenants: Mapping[str, Tenant]) -> str:
    """A subject naming the tenants, a line per event, and a trailer per event id."""
    slugs = sorted({event.slug for event in events})
    shown = ", ".join(slugs[:5]) + (f" and {len(slugs) - 5} more" if len(slugs) > 5 else "")  # noqa: PLR2004
    lines = [f"Add {len(slugs)} tenant{'s' if len(slugs) != 1 else ''}: {shown}", ""]
    for event in events:
        tenant = tenants[event.slug]
        lines.append(f"- {event.type} {event.slug} (plan {tenant.plan}, host {tenant.host})")
    lines.append("")
    lines.extend(f"{TRAILER}: {event.id}" for event in events)
    return "\n".join(lines) + "\n"


class Writer:
    """The only process that writes to the state repo's branch."""

    def __init__(self, *, store: Store, repo: StateRepo, settings: Settings) -> None:
        self.store = store
        self.repo = repo
        self.settings = settings
        self.branch = settings.branch
        # Checking a file is a pure function of its path and bytes, so results are kept
        # per blob: a new head costs only the files that changed.
        self._checked: dict[tuple[str, str], FileResult] = {}

    # --- reading the branch -------------------------------------------------------------

    def head(self) -> Tree:
        """The branch as it is now, checked, and synced into the queue's view."""
        snapshot = self.repo.snapshot(self.branch) or self._seed()
        tree = self._tree(snapshot)
        if tree.inventory is not None and self.store.synced_head() != snapshot.sha:
            self.store.sync_repo(
                snapshot.sha,
                tree.inventory,
                (
                    RepoTenant(r.tenant.slug, r.tenant.host, r.tenant.plan, r.tenant.domains)
                    for r in tree.results.values()
                    if r.tenant is not None
                ),
            )
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
        sha = self.repo.commit(None, files, "Seed the state repo with tenants/ and nix/\n")
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
        contents = self.repo.read_blobs(unread)
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
            inventory_problems=tuple(problems),
            results={path: result for (path, _blob), result in checked.items()},
        )

    # --- writing ------------------------------------------------------------------------

    def drain_once(self) -> int:
        """Commit what is pending now; the number of events it settled."""
        events = self.store.pending(self.settings.batch_limit)
        if not events:
            return 0
        tree = self.head()
        if unsettled := self._settle_landed(events):
            self._commit(tree, unsettled)
        return len(events)

    def _settle_landed(self, events: list[QueuedEvent]) -> list[QueuedEvent]:
        """Mark events whose commit reached the branch before a crash; return the rest."""
        remaining = []
        for event in events:
            if event.attempt_sha and self.repo.contains(self.branch, event.attempt_sha):
                log.info("event %s landed before a restart in %s", event.id, event.attempt_sha)
                self.store.mark_done([event], event.attempt_sha, "committed", on_branch=True)
            else:
                remaining.append(event)
        return remaining

    def _commit(self, tree: Tree, events: list[QueuedEvent]) -> None:
        for attempt in range(1, self.settings.push_attempts + 1):
            changes, tenants, events = self._apply(tree, events)
            if not events:
                return
            message = commit_message(events, tenants)
            sha = self.repo.commit(tree.snapshot.sha, changes, message)
            # Write-ahead: if we die after the push, a restart finds this sha on the branch.
            self.store.record_attempt(events, sha)
            if self.repo.advance(self.branch, sha):
                self.store.mark_done(events, sha, "committed", on_branch=True)
                log.info("committed %d events in %s", len(events), sha[:12])
                return
            log.info("branch %s moved (attempt %d); rebuilding the batch", self.branch, attempt)
            tree = self.head()
        log.warning(
            "gave up after %d attempts; the events stay queued", self.settings.push_attempts
        )

    def _apply(
        self, tree: Tree, events: list[QueuedEvent]
    ) -> tuple[dict[str, bytes | None], dict[str, Tenant], list[QueuedEvent]]:
        """The changes `events` make to `tree`, after dropping the events the checker refuses.

        Problems already on the branch stop the writer (BranchBroken); problems the batch
        brings fail the events that brought them, and the rest is checked again.
        """
        if not (base := tree.check({})).ok:
            raise BranchBroken("; ".join(str(p) for p in base.problems[:5]))
        kept: list[QueuedEvent] = []
        for event in events:
            path = tenant_path(event.slug)
            existing = tree.results.get(path)
            if existing is None:
                kept.append(event)
            elif existing.tenant is not None and existing.tenant.origin == event.id:
                # Already there (the push won before a crash wiped the attempt).
                self.store.mark_done([event], tree.snapshot.sha, "committed", on_branch=True)
            else:
                self.store.mark_failed(event, f"{path} exists on {self.branch} already")
        while True:
            checked = {
                tenant_path(e.slug): check_file(tenant_path(e.slug), (e.content or "").encode())
                for e in kept
            }
            report = tree.check(checked)
            refused = {problem.file: problem for problem in reversed(report.problems)}
            if not refused:
                break
            still = []
            for event in kept:
                if (problem := refused.get(tenant_path(event.slug))) is not None:
                    log.warning("event %s refused by the checker: %s", event.id, problem)
                    self.store.mark_failed(event, str(problem))
                else:
                    still.append(event)
            if len(still) == len(kept):
                raise BranchBroken("; ".join(str(p) for p in report.problems[:5]))
            kept = still
        changes: dict[str, bytes | None] = {
            path: result.text.encode() for path, result in checked.items()
        }
        tenants = {r.tenant.slug: r.tenant for r in checked.values() if r.tenant is not None}
        return changes, tenants, kept

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
            except (BackendError, BranchBroken) as problem:
                log.error("writer paused for %.1fs: %s", backoff, problem)  # noqa: TRY400
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
