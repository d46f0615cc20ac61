"""Steering the open rollout: pause, resume and abort move its state, the driver does the rest."""

from __future__ import annotations

import time
from typing import Final

from gitops_bot.store import rollouts
from gitops_bot.store.queue import Store

# What an operator may do to the open rollout, from which states, and where it leads.
CONTROLS: Final = {
    "pause": (("running",), "paused"),
    "resume": (("paused", "halted"), "running"),
    "abort": (("running", "paused", "halted"), "aborting"),
}


def control(store: Store, action: str, now: float | None = None) -> tuple[bool, str]:
    """Pause, resume or abort the open rollout: (done, what happened, in words).

    Only the state moves here; the worker's driver does the rest at its next round, so a
    command never races the driver over the queue.
    """
    sources, target = CONTROLS[action]
    now = time.time() if now is None else now
    with store.transaction() as db:
        rollout = rollouts.open_rollout(db)
        if rollout is None:
            return False, "no rollout is open"
        if rollout.state == target:
            return True, f"rollout {rollout.id} is {target} already"
        if not rollouts.move(db, rollout.id, target, allowed_from=sources, now=now):
            return False, f"rollout {rollout.id} is {rollout.state}; it cannot {action}"
        if action == "resume" and rollout.state == "halted":
            rollouts.forgive_failures(db, rollout.id, now)
        return True, f"rollout {rollout.id} of {rollout.release}: {target}"
