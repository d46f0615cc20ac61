"""Signup to live: a tenant's transitions as the durations of its provisioning stages."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gitops_bot.contract.lifecycle import PROGRESS

# Each stage is named after the status that ends it, and starts at the one before:
# committed is accepted -> committed (or merged, for a reviewed plan), deploying is
# committed -> deploying, deployed is deploying -> deployed, live is deployed -> live.
STAGES: Final = ("committed", "deploying", "deployed", "live")
# The statuses that begin or end a stage; "merged" reaches the same point as "committed".
_MILESTONE: Final = {
    "accepted": "accepted",
    "committed": "committed",
    "merged": "committed",
    "deploying": "deploying",
    "deployed": "deployed",
    "live": "live",
}
# The statuses that can end a stage, so that no other transition pays for a look.
STAGE_ENDS: Final = frozenset(_MILESTONE) - {"accepted"}
_STARTS: Final = {
    "committed": "accepted",
    "deploying": "committed",
    "deployed": "deploying",
    "live": "deployed",
}
# Prometheus buckets for every stage and for the whole (seconds): a local commit takes
# seconds, a deploy minutes, a certificate that waits on DNS up to an hour.
BUCKETS: Final = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Timeline:
    """Seconds per stage, and from signup to live; None where a stage was not seen."""

    stages: Mapping[str, float | None]
    signup_to_live: float | None

    def as_json(self) -> dict[str, Any]:
        return {"stages": dict(self.stages), "signupToLive": self.signup_to_live}


def reached(transitions: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """When the latest signup reached each point of the path, in the transitions' order.

    Only the first time each point is passed counts, and never a step back: a redeploy
    after an update, or a second "live" after a failed probe, changes nothing already
    measured, so a duration recorded once stays true. A later "accepted" (the slug signed
    up again after a deletion) starts over. Times never go backwards either: a point is
    reached no earlier than the one before it, so a clock stepped back cannot give a
    negative duration.
    """
    points: dict[str, float] = {}
    rank = -1
    latest = -math.inf
    for transition in transitions:
        status = str(transition["status"])
        if status == "accepted":
            points, rank, latest = {}, -1, -math.inf
        if status not in PROGRESS or PROGRESS[status] <= rank:
            continue
        rank = PROGRESS[status]
        latest = max(latest, float(transition["at"]))
        if status in _MILESTONE:
            points[_MILESTONE[status]] = latest
    return points


def timeline(transitions: Iterable[Mapping[str, Any]]) -> Timeline:
    """The stages of one tenant's transitions (oldest first), each dict with status and at."""
    points = reached(transitions)
    stages: dict[str, float | None] = {}
    for stage in STAGES:
        start = _STARTS[stage]
        ends = stage in points and start in points
        stages[stage] = points[stage] - points[start] if ends else None
    total = (
        points["live"] - points["accepted"] if "live" in points and "accepted" in points else None
    )
    return Timeline(stages, total)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (0.5 the median, 0.9 the 90th); None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[min(index, len(ordered) - 1)]


def bucket(seconds: float) -> str:
    """The `le` label of the first bucket `seconds` fits in."""
    for bound in BUCKETS:
        if seconds <= bound:
            return le_label(bound)
    return "+Inf"


def le_label(bound: float) -> str:
    # As /metrics writes its other histogram's bounds (and Prometheus's own clients do).
    return str(float(bound))
