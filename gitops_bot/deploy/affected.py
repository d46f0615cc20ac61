"""Which hosts a change to the state repo touches, read from the changed files alone (no Nix)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from gitops_bot.contract.inventory import INVENTORY_PATH

# Every host's system is built from these: a change to one may change any host.
SHARED_FILES: Final = ("flake.nix", "flake.lock")
SHARED_FOLDER: Final = "nix/"
# Under nix/ but never part of a tenant host: the control host's own modules (it is deployed
# by hand, `colmena apply --on control`) and the tests, which no host imports.
NOT_ON_TENANT_HOSTS: Final = ("nix/control/", "nix/tests/")
# The module reads only tenants/<slug>.json; the schema and any other name are not deployed.
TENANT_FILE: Final = re.compile(r"^tenants/[a-z0-9][a-z0-9-]*\.json$")
EVERY_HOST: Final = None

# The content of a path at one revision, None when it is not there.
Reader = Callable[[str], bytes | None]
# A host (EVERY_HOST for all of them) and why the change touches it.
Reason = tuple[str | None, str]


@dataclass(frozen=True)
class Impact:
    """The hosts a change touches, each with the reasons why."""

    reasons: tuple[Reason, ...] = ()

    @property
    def every_host(self) -> bool:
        return any(host is EVERY_HOST for host, _ in self.reasons)

    def touches(self, host: str) -> bool:
        return bool(self.why(host))

    def why(self, host: str) -> tuple[str, ...]:
        return tuple(reason for target, reason in self.reasons if target in {host, EVERY_HOST})


def impact(paths: Iterable[str], *, old: Reader, new: Reader) -> Impact:
    """What changing `paths` from `old` to `new` touches.

    Conservative on purpose: a file it cannot read (not JSON, no host) touches every host, since
    deploying a host for nothing costs a no-op switch and missing one leaves it behind.
    """
    reasons: list[Reason] = []
    for path in sorted(set(paths)):
        if path == INVENTORY_PATH:
            reasons += _inventory(old(path), new(path))
        elif path.startswith(NOT_ON_TENANT_HOSTS):
            continue
        elif path.startswith(SHARED_FOLDER) or path in SHARED_FILES:
            reasons.append((EVERY_HOST, f"{path} changed (shared by every host)"))
        elif TENANT_FILE.match(path):
            reasons += _tenant(path, old(path), new(path))
    return Impact(tuple(reasons))


def _tenant(path: str, before: bytes | None, after: bytes | None) -> list[Reason]:
    hosts = {}
    for label, content in (("before", before), ("after", after)):
        if content is None:
            continue
        host = _host_of(content)
        if host is None:
            return [(EVERY_HOST, f"{path} has no readable host {label} the change")]
        hosts[label] = host
    old_host, new_host = hosts.get("before"), hosts.get("after")
    if old_host is None and new_host is not None:
        return [(new_host, f"{path} added")]
    if new_host is None and old_host is not None:
        return [(old_host, f"{path} removed")]
    if old_host == new_host:
        return [(old_host, f"{path} changed")] if old_host else []
    moved = f"{path} moved from {old_host} to {new_host}"
    return [(old_host, moved), (new_host, moved)]


def read_paths(paths: Iterable[str]) -> list[str]:
    """The paths among `paths` whose content `impact` reads; it needs only their names otherwise."""
    return [path for path in paths if path == INVENTORY_PATH or TENANT_FILE.match(path)]


def _host_of(content: bytes) -> str | None:
    data = _json(content)
    host = data.get("host") if isinstance(data, dict) else None
    return host if isinstance(host, str) else None


def _inventory(before: bytes | None, after: bytes | None) -> list[Reason]:
    """Per host when only `hosts.<name>` entries changed; every host for anything else.

    Except the default release: only intake reads it (for new tenants' files), no host
    builds anything from it, so moving it deploys nothing.
    """
    old, new = _json(before or b"{}"), _json(after or b"{}")
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [(EVERY_HOST, f"{INVENTORY_PATH} is not a JSON object")]
    old, new = _without_default_release(old), _without_default_release(new)
    shared = sorted(k for k in set(old) | set(new) if k != "hosts" and old.get(k) != new.get(k))
    if shared:
        return [(EVERY_HOST, f"{INVENTORY_PATH}: {', '.join(shared)} changed")]
    old_hosts, new_hosts = old.get("hosts", {}), new.get("hosts", {})
    if not (isinstance(old_hosts, dict) and isinstance(new_hosts, dict)):
        return [(EVERY_HOST, f"{INVENTORY_PATH}: hosts is not a JSON object")]
    return [
        (name, f"{INVENTORY_PATH}: hosts.{name} changed")
        for name in sorted(set(old_hosts) | set(new_hosts))
        if old_hosts.get(name) != new_hosts.get(name)
    ]


def _without_default_release(inventory: dict[str, Any]) -> dict[str, Any]:
    releases = inventory.get("releases")
    if not isinstance(releases, dict):
        return inventory
    return {**inventory, "releases": {k: v for k, v in releases.items() if k != "default"}}


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
