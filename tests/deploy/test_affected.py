"""affected: which hosts a change touches, from the files at both revisions."""

from __future__ import annotations

import json
from typing import Any

from gitops_bot.deploy.affected import Impact, impact

INVENTORY = {
    "baseDomain": "tenants.example.com",
    "hosts": {
        "web-1": {"address": "web-1.example.net", "capacity": 10},
        "web-2": {"address": "web-2.example.net", "capacity": 10},
    },
    "plans": {"pro": {"cpuQuota": "100%", "memoryMax": "1G"}},
}


def tenant(slug: str, host: str, **fields: Any) -> bytes:
    return json.dumps({"slug": slug, "host": host, "state": "active", **fields}).encode()


def change(before: dict[str, bytes], after: dict[str, bytes]) -> Impact:
    paths = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    return impact(paths, old=before.get, new=after.get)


def hosts_touched(result: Impact, fleet: tuple[str, ...] = ("web-1", "web-2")) -> set[str]:
    return {host for host in fleet if result.touches(host)}


def test_a_new_tenant_touches_its_host_only() -> None:
    result = change({}, {"tenants/acme.json": tenant("acme", "web-2")})
    assert hosts_touched(result) == {"web-2"}
    assert result.why("web-2") == ("tenants/acme.json added",)
    assert not result.every_host


def test_a_changed_or_removed_tenant_touches_its_host() -> None:
    before = {"tenants/acme.json": tenant("acme", "web-1")}
    changed = change(before, {"tenants/acme.json": tenant("acme", "web-1", state="suspended")})
    removed = change(before, {})
    assert hosts_touched(changed) == {"web-1"}
    assert hosts_touched(removed) == {"web-1"}
    assert removed.why("web-1") == ("tenants/acme.json removed",)


def test_a_host_move_touches_both_hosts() -> None:
    result = change(
        {"tenants/acme.json": tenant("acme", "web-1")},
        {"tenants/acme.json": tenant("acme", "web-2")},
    )
    assert hosts_touched(result) == {"web-1", "web-2"}
    assert result.why("web-1") == ("tenants/acme.json moved from web-1 to web-2",)


def test_shared_nix_and_flake_files_touch_every_host() -> None:
    for path in ("nix/module.nix", "nix/hosts/common.nix", "flake.nix", "flake.lock"):
        result = change({path: b"old"}, {path: b"new"})
        assert result.every_host, path
        assert hosts_touched(result, ("web-1", "web-9")) == {"web-1", "web-9"}
        assert result.why("web-9") == (f"{path} changed (shared by every host)",)


def test_the_control_hosts_files_and_the_vm_tests_touch_no_tenant_host() -> None:
    for path in ("nix/control/default.nix", "nix/tests/bot.nix", "nix/tests/fixtures/x.json"):
        assert change({path: b"old"}, {path: b"new"}).reasons == (), path
    # The bot's module stays shared: an operator may import it on a tenant host too.
    assert change({"nix/gitops-bot.nix": b"old"}, {"nix/gitops-bot.nix": b"new"}).every_host


def test_an_inventory_host_entry_touches_that_host_only() -> None:
    after = json.loads(json.dumps(INVENTORY))
    after["hosts"]["web-2"]["capacity"] = 20
    after["hosts"]["web-3"] = {"address": "web-3.example.net", "capacity": 5}
    result = change(
        {"nix/inventory.json": json.dumps(INVENTORY).encode()},
        {"nix/inventory.json": json.dumps(after).encode()},
    )
    assert hosts_touched(result, ("web-1", "web-2", "web-3")) == {"web-2", "web-3"}
    assert result.why("web-3") == ("nix/inventory.json: hosts.web-3 changed",)


def test_inventory_base_domain_or_plans_touch_every_host() -> None:
    for key, value in (("baseDomain", "other.example.com"), ("plans", {})):
        after = {**INVENTORY, key: value}
        result = change(
            {"nix/inventory.json": json.dumps(INVENTORY).encode()},
            {"nix/inventory.json": json.dumps(after).encode()},
        )
        assert result.every_host, key
        assert result.why("web-1") == (f"nix/inventory.json: {key} changed",)


def test_moving_the_default_release_deploys_nothing_but_the_known_list_every_host() -> None:
    before = {**INVENTORY, "releases": {"default": "2026.11", "known": ["2026.11", "2026.12"]}}
    moved = {**INVENTORY, "releases": {"default": "2026.12", "known": ["2026.11", "2026.12"]}}
    result = change(
        {"nix/inventory.json": json.dumps(before).encode()},
        {"nix/inventory.json": json.dumps(moved).encode()},
    )
    assert hosts_touched(result, ("web-1", "web-2")) == set()
    # Each host asserts it has a package for every known release: a new one is checked there.
    grown = {**moved, "releases": {"default": "2026.12", "known": ["2026.11", "2026.12", "x"]}}
    result = change(
        {"nix/inventory.json": json.dumps(moved).encode()},
        {"nix/inventory.json": json.dumps(grown).encode()},
    )
    assert result.every_host
    assert result.why("web-1") == ("nix/inventory.json: releases changed",)


def test_files_outside_the_deploy_touch_nothing() -> None:
    result = change(
        {},
        {
            "README.md": b"docs",
            "tenants/tenant.schema.json": b"{}",
            "tenants/notes.txt": b"not read by the module",
            "gitops_bot/deploy.py": b"code",
            ".github/workflows/deploy.yml": b"ci",
        },
    )
    assert result == Impact()
    assert hosts_touched(result) == set()


def test_an_unreadable_tenant_file_touches_every_host() -> None:
    result = change({}, {"tenants/acme.json": b"{not json"})
    assert result.every_host
    assert result.why("web-2") == ("tenants/acme.json has no readable host after the change",)
    assert change({}, {"tenants/acme.json": b'{"host": 3}'}).every_host


def test_an_unreadable_inventory_touches_every_host() -> None:
    result = change({"nix/inventory.json": b"{}"}, {"nix/inventory.json": b"[1]"})
    assert result.every_host
