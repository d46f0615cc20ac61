"""A plan's data, host by host: what plan.py builds and plan_render.py reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["nix", "files"]


@dataclass(frozen=True)
class HostPlan:
    host: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    suspended: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    start: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    nginx_reload: bool = False
    nginx_changes: tuple[str, ...] = ()

    @property
    def tenants_changed(self) -> bool:
        return any((self.added, self.changed, self.suspended, self.resumed, self.removed))

    @property
    def acts(self) -> bool:
        return any((self.start, self.restart, self.stop, self.nginx_reload))


@dataclass(frozen=True)
class Report:
    base: str
    head: str
    source: Source
    hosts: tuple[HostPlan, ...]
    notes: tuple[str, ...] = field(default=())
