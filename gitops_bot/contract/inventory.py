"""The fleet inventory, nix/inventory.json: hosts with their capacity, plans and the base domain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from gitops_bot.contract.tenant import Hostname, Identifier

INVENTORY_PATH: Final = "nix/inventory.json"


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    address: str = Field(min_length=1, max_length=253, description="SSH target for deploys")
    capacity: PositiveInt = Field(description="How many tenants the host may run")


class Plan(BaseModel):
    """Per-plan resource limits, applied by the NixOS module to each tenant's service."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    memory_max: str = Field(alias="memoryMax", pattern=r"^[0-9]+[KMGT]?$")
    cpu_quota: str = Field(alias="cpuQuota", pattern=r"^[0-9]+%$")
    # Socket-activated tenants of this plan stop after this long without a request and
    # start again on the next one; None keeps them running.
    idle_stop: str | None = Field(
        default=None, alias="idleStop", pattern=r"^[1-9][0-9]{0,5}(s|min|h)$"
    )


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    base_domain: Hostname = Field(alias="baseDomain")
    hosts: dict[Identifier, Host] = Field(min_length=1)
    plans: dict[Identifier, Plan] = Field(min_length=1)

    def domain_is_ours(self, domain: str) -> bool:
        """True for the base domain and every name under it: tenants get those as subdomains."""
        return domain == self.base_domain or domain.endswith("." + self.base_domain)

    def place(self, tenants_per_host: Mapping[str, int]) -> str | None:
        """The host with the most free capacity, or None when every host is full.

        Ties go to the host whose name sorts first, so placement is deterministic.
        """
        free = {
            name: host.capacity - tenants_per_host.get(name, 0) for name, host in self.hosts.items()
        }
        best = min(free, key=lambda name: (-free[name], name))
        return best if free[best] > 0 else None
