"""The fleet inventory, nix/inventory.json: hosts and capacity, plans, base domain and releases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

from gitops_bot.contract.tenant import Hostname, Identifier, ReleaseName

INVENTORY_PATH: Final = "nix/inventory.json"
# NAME:PORT or [IPv6]:PORT, as nix/hosts/pull.nix splits it for comin's listen address.
_EXPORTER: Final = re.compile(
    r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):([0-9]{1,5})$"
)
_PORTS: Final = range(1, 65536)


class Host(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    address: str = Field(min_length=1, max_length=253, description="SSH target for deploys")
    capacity: PositiveInt = Field(description="How many tenants the host may run")
    # "push": an engine outside the host (colmena, NixOps, from CI) deploys it. "comin": the
    # host pulls the branch and switches by itself (nix/hosts/pull.nix).
    deploy: Literal["push", "comin"] = Field(default="push", description="Who deploys the host")
    exporter: str | None = Field(
        default=None,
        max_length=262,
        description="comin's Prometheus exporter, ADDRESS:PORT on a network only the bot reaches",
    )

    @model_validator(mode="after")
    def _exporter_of_a_pulling_host(self) -> Host:
        if self.exporter is None:
            return self
        if self.deploy != "comin":
            raise ValueError('exporter is comin\'s: set "deploy": "comin" too, or remove it')
        match = _EXPORTER.match(self.exporter)
        if match is None or int(match[1]) not in _PORTS:
            raise ValueError(f"exporter {self.exporter!r} is not ADDRESS:PORT")
        return self

    @property
    def pulls(self) -> bool:
        """Whether the host deploys itself, so no push engine should touch it."""
        return self.deploy == "comin"


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


class Releases(BaseModel):
    """The app releases tenant files may name, and the one new tenants get.

    The list lives here, beside the plans, because both readers need it: the checker (which
    refuses a tenant naming a release not listed) and the NixOS module (which asserts that
    `app.releases` has a package for every release listed).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    default: ReleaseName = Field(description="Written into every new tenant's file at intake")
    known: list[ReleaseName] = Field(min_length=1, description="Releases tenants may name")

    @model_validator(mode="after")
    def _default_is_known(self) -> Releases:
        if len(set(self.known)) != len(self.known):
            raise ValueError("known must not list a release twice")
        if self.default not in self.known:
            raise ValueError(f"default '{self.default}' is not one of known")
        return self


class Inventory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    base_domain: Hostname = Field(alias="baseDomain")
    hosts: dict[Identifier, Host] = Field(min_length=1)
    plans: dict[Identifier, Plan] = Field(min_length=1)
    # None: a fleet from before releases, whose tenants all run the legacy app.package.
    releases: Releases | None = None

    @property
    def default_release(self) -> str | None:
        """The release a new tenant is written with; None while the fleet has no releases."""
        return None if self.releases is None else self.releases.default

    def release_problem(self, release: str) -> str | None:
        """Why a tenant may not name `release`, or None when it is a known release."""
        if self.releases is None:
            return f"unknown release '{release}': {INVENTORY_PATH} lists no releases"
        if release not in self.releases.known:
            known = ", ".join(self.releases.known)
            return f"unknown release '{release}' (one of {INVENTORY_PATH}'s releases: {known})"
        return None

    def domain_is_ours(self, domain: str) -> bool:
        """True for a name the operator owns, which no tenant may claim (see `why_ours`)."""
        return self.why_ours(domain) is not None

    def why_ours(self, domain: str) -> str | None:
        """Why `domain` is the operator's, or None when a tenant may claim it.

        The base domain and every name under it (tenants get those as subdomains), the
        parents of the base domain, and each host's address with every name under it: a
        route for any of them would take traffic meant for the fleet itself.
        """
        if _at_or_under(domain, self.base_domain):
            return f"is under the base domain {self.base_domain}"
        if _at_or_under(self.base_domain, domain):
            return f"is a parent of the base domain {self.base_domain}"
        for name, host in sorted(self.hosts.items()):
            # An SSH target may carry a user (root@web-1...): the name is what follows it.
            address = host.address.rpartition("@")[2].lower()
            if _at_or_under(domain, address):
                return f"is under host {name}'s address {address}"
        return None

    def place(self, tenants_per_host: Mapping[str, int]) -> str | None:
        """The host with the most free capacity, or None when every host is full.

        Ties go to the host whose name sorts first, so placement is deterministic.
        """
        free = {
            name: host.capacity - tenants_per_host.get(name, 0) for name, host in self.hosts.items()
        }
        best = min(free, key=lambda name: (-free[name], name))
        return best if free[best] > 0 else None


def _at_or_under(name: str, parent: str) -> bool:
    return name == parent or name.endswith("." + parent)
