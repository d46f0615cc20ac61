"""Local mode's last observable step: nix/ evaluates with the tenant in it (no deploy runs)."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Final

from gitops_bot.config import Settings
from gitops_bot.nix import nixeval
from gitops_bot.store.queue import Store

log = logging.getLogger(__name__)

# Evaluating 10,000 tenants takes about a second, so a burst is evaluated once, not per commit.
MIN_INTERVAL: Final = 2.0


class LocalEvaluator:
    """Marks committed or merged tenants `evaluated` once nix/ evaluates with them in it.

    In local mode nothing deploys, so this is the furthest a tenant can honestly get:
    it never shows `live` without a deploy that was observed.
    """

    def __init__(self, clone: Path) -> None:
        self.clone = clone
        self._last_run = 0.0
        self.failed = False  # run_until stopped on an unexpected error

    @staticmethod
    def available() -> bool:
        return nixeval.nix_instantiate() is not None

    def run(self, store: Store, head: str) -> int:
        """Evaluate `head` if tenants wait for it; how many tenants moved on."""
        if time.monotonic() - self._last_run < MIN_INTERVAL:
            return 0
        waiting = store.slugs_with_status("committed", "merged")
        if not waiting:
            return 0
        self._last_run = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="gitops-bot-eval-") as scratch:
            tree = Path(scratch)
            try:
                nixeval.materialize(self.clone, head, tree)
                summary = nixeval.evaluate(tree, rules=tree)
            except nixeval.EvalError as problem:
                log.warning("nix/ does not evaluate at %s: %s", head[:12], problem)
                return 0
        present = {slug for tenants in summary["hosts"].values() for slug in tenants}
        moved = 0
        with store.transaction():
            for slug in sorted(waiting & present):
                moved += store.add_transition(slug, "evaluated", commit_sha=head)
        return moved

    def run_until(self, stop: threading.Event, settings: Settings) -> None:
        """Evaluate each new head until `stop` is set, beside the writer, not in its way.

        Evaluating a fleet takes seconds (copying the tree out, then nix-instantiate), and
        in the writer's loop every signup queued meanwhile waited for it: at 200 signups
        a second that put the p99 from accept to commit at three seconds.
        """
        try:
            with Store(settings.database_path, synchronous=settings.synchronous) as store:
                while not stop.is_set():
                    if head := store.synced_head():
                        self.run(store, head)
                    stop.wait(MIN_INTERVAL)
        except Exception:
            # As when it ran in the writer's loop: the worker stops with an error, and
            # `serve` restarts it.
            log.exception("the evaluator failed; stopping the worker")
            self.failed = True
            stop.set()
