"""A rollout's plan, pure: which tenants, in which waves, and the units each wave restarts."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from gitops_bot.contract.tenant import Tenant
from gitops_bot.store.rollouts import PlannedTenant

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_MAX_WAVES = 100


class PlanError(ValueError):
    """A rollout that cannot be planned: the message names the option and why."""


@dataclass(frozen=True)
class WaveTarget:
    """A wave's cumulative size: `value` percent of the selected tenants, or `value` tenants."""

    value: float
    percent: bool

    def reach(self, total: int) -> int:
        if self.percent:
            return min(total, math.ceil(total * self.value / 100))
        return min(total, int(self.value))


def parse_waves(spec: str) -> list[WaveTarget]:
    """`1,10%,50%,100%`: cumulative sizes, each a count or a percentage, growing."""
    targets: list[WaveTarget] = []
    for part in (p.strip() for p in spec.split(",")):
        percent = part.endswith("%")
        number = part.removesuffix("%")
        if not re.fullmatch(r"\d+(\.\d+)?", number) or float(number) <= 0:
            raise PlanError(f"--waves: '{part}' is not a positive count or percentage")
        if percent and float(number) > 100:  # noqa: PLR2004 - percent
            raise PlanError(f"--waves: '{part}' is more than 100%")
        if not percent and not number.isdigit():
            raise PlanError(f"--waves: '{part}': a count is a whole number")
        targets.append(WaveTarget(float(number), percent))
    if not targets or len(targets) > _MAX_WAVES:
        raise PlanError(f"--waves: give 1 to {_MAX_WAVES} waves")
    return targets


def parse_duration(text: str) -> float:
    """`90`, `90s`, `10m`, `1h`: seconds."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise PlanError(f"--soak: '{text}' is not a duration such as 30s, 10m or 1h")
    return float(found[1]) * _UNIT_SECONDS[found[2] or "s"]


def select(
    fleet: Iterable[Tenant],
    *,
    release: str,
    hosts: Sequence[str] = (),
    plans: Sequence[str] = (),
    slugs: Sequence[str] = (),
) -> list[PlannedTenant]:
    """The tenants a rollout moves: active, matching every filter given, not on `release` yet.

    A suspended tenant runs nothing the probe could see go live, so it is left where it is.
    """
    chosen = [
        PlannedTenant(t.slug, t.host, t.plan, t.release)
        for t in fleet
        if t.state == "active"
        and t.release != release
        and (not hosts or t.host in hosts)
        and (not plans or t.plan in plans)
        and (not slugs or t.slug in slugs)
    ]
    # Spread each wave over the hosts: one host's canaries alone would test one machine.
    by_host: dict[str, list[PlannedTenant]] = {}
    for tenant in sorted(chosen, key=lambda t: t.slug):
        by_host.setdefault(tenant.host, []).append(tenant)
    ordered: list[PlannedTenant] = []
    queues = [by_host[host] for host in sorted(by_host)]
    while any(queues):
        ordered += [queue.pop(0) for queue in queues if queue]
    return ordered


def waves_of(
    tenants: Sequence[PlannedTenant], targets: Sequence[WaveTarget]
) -> list[list[PlannedTenant]]:
    """Cut the ordered tenants at each target; targets that add nobody make no wave."""
    waves: list[list[PlannedTenant]] = []
    start = 0
    for target in targets:
        end = target.reach(len(tenants))
        if end > start:
            waves.append(list(tenants[start:end]))
            start = end
    return waves


def fleet(files: Mapping[str, bytes]) -> list[Tenant]:
    """The tenants of a branch's files; one that does not parse is the checker's business."""
    tenants = []
    for path, content in sorted(files.items()):
        if not (path.startswith("tenants/") and path.endswith(".json")):
            continue
        try:
            tenants.append(Tenant.model_validate_json(content))
        except ValidationError:
            continue
    return tenants
