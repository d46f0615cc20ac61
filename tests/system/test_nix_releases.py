"""Releases in nix/: a tenant's release picks its package, checked against the inventory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
from nix_helpers import (
    INVENTORY,
    NIX_DIR,
    NIXPKGS_LIB,
    needs_nix,
    nix_error,
    nix_eval,
    nix_path,
    nix_str,
    with_lib,
    write_tenant,
)
from pydantic import TypeAdapter, ValidationError

from gitops_bot.contract.tenant import ReleaseName

pytestmark = needs_nix

needs_nixpkgs_lib = pytest.mark.skipif(
    not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
    reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
)
FIXTURES: Final = NIX_DIR / "tests" / "fixtures"


def inventory_with(tmp_path: Path, releases: object, source: Path = INVENTORY) -> Path:
    data = json.loads(source.read_text())
    data["releases"] = releases
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(data))
    return path


def load(tenants: Path, inventory: Path = INVENTORY) -> str:
    lib = nix_path(NIX_DIR / "lib.nix")
    return (
        f"let lib = import {lib}; in lib.loadTenants {{ dir = {nix_path(tenants)}; "
        f"inventory = lib.readInventory {nix_path(inventory)}; }}"
    )


def test_a_tenant_without_a_release_loads_as_the_legacy_package(tmp_path: Path) -> None:
    write_tenant(tmp_path, "alpha")
    write_tenant(tmp_path, "bravo", release="2026.11")
    tenants = nix_eval(load(tmp_path))
    assert tenants["alpha"]["release"] is None
    assert tenants["bravo"]["release"] == "2026.11"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2027.01", 'release "2027.01" is not in nix/inventory.json releases.known'),
        ("$(reboot)", 'release "$(reboot)" is not a release name'),
        ("../2026.11", 'release "../2026.11" is not a release name'),
    ],
)
def test_a_release_the_inventory_lacks_stops_evaluation(
    tmp_path: Path, value: str, why: str
) -> None:
    write_tenant(tmp_path, "alpha", release=value)
    assert f"tenants/alpha.json: {why}" in nix_error(load(tmp_path))


@pytest.mark.parametrize(
    ("releases", "why"),
    [
        ({"default": "2026.12", "known": ["2026.11"]}, "releases.default is not one of"),
        (
            {"default": "2026.11", "known": ["2026.11", "2026.11"]},
            "releases.known lists a release twice",
        ),
        ({"default": "x", "known": []}, "releases.known is not a list"),
        ({"default": "a b", "known": ["a b"]}, "releases.known has a name that is not"),
        (["2026.11"], "releases is not an object"),
    ],
)
def test_a_broken_release_list_stops_evaluation(tmp_path: Path, releases: object, why: str) -> None:
    inventory = inventory_with(tmp_path, releases)
    write_tenant(tmp_path / "tenants", "alpha")
    assert f"nix/inventory.json: {why}" in nix_error(load(tmp_path / "tenants", inventory))


RELEASE_SAMPLES: Final = [
    "2026.11", "v1.2.3-rc_1", "a", "A" * 63, "A" * 64, ".hidden", "-x", "_x", "a/b", "a b",
    "a\nb", "", "2026.11;", "${x}", "a+b", "a@b",
]  # fmt: skip


def test_nix_and_python_agree_on_release_names() -> None:
    samples = " ".join(map(nix_str, RELEASE_SAMPLES))
    verdicts = nix_eval(with_lib(f"map tenantLib.isReleaseName [ {samples} ]"))
    adapter: TypeAdapter[str] = TypeAdapter(ReleaseName)

    def valid(name: str) -> bool:
        try:
            adapter.validate_python(name)
        except ValidationError:
            return False
        return True

    assert verdicts == [valid(name) for name in RELEASE_SAMPLES]


def module(tenants: Path, inventory: Path, extra: str = "{ }", attribute: str = "") -> Any:
    return nix_eval(
        f"(import {nix_path(NIX_DIR / 'tests' / 'module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; tenantsDir = {nix_path(tenants)}; "
        f'inventoryFile = {nix_path(inventory)}; hostName = "machine"; extraConfig = {extra}; }})'
        + attribute
    )


def machine_tenant(directory: Path, slug: str, release: str | None = None) -> None:
    write_tenant(directory, slug, host="machine", plan="small", release=release)


@needs_nixpkgs_lib
def test_module_runs_each_tenants_own_release_and_names_the_default(tmp_path: Path) -> None:
    inventory = inventory_with(
        tmp_path,
        {"default": "2026.12", "known": ["2026.11", "2026.12"]},
        FIXTURES / "inventory.json",
    )
    machine_tenant(tmp_path / "tenants", "alpha")
    machine_tenant(tmp_path / "tenants", "bravo", "2026.11")
    machine_tenant(tmp_path / "tenants", "carol", "2026.12")
    result = module(tmp_path / "tenants", inventory)
    assert result["failedAssertions"] == []
    assert result["defaultRelease"] == "2026.12"

    def exec_start(slug: str) -> str:
        value: str = json.loads(result["services"][f"tenant-app@{slug}"])["serviceConfig"][
            "ExecStart"
        ]
        return value.split(" ", 1)[0].rsplit("/", 3)[-3]

    assert exec_start("alpha").endswith("-stub-app")
    assert exec_start("bravo").endswith("-stub-app-2026.11")
    assert exec_start("carol").endswith("-stub-app-2026.12")
    # Nothing the tenants share names a release: only the app units differ between them.
    shared = [json.loads(v) for k, v in result["services"].items() if "@" not in k]
    assert "2026.1" not in json.dumps(shared)


@needs_nixpkgs_lib
def test_module_asserts_a_package_for_every_release_the_inventory_lists(tmp_path: Path) -> None:
    inventory = inventory_with(
        tmp_path,
        {"default": "2026.11", "known": ["2026.11", "2027.01"]},
        FIXTURES / "inventory.json",
    )
    machine_tenant(tmp_path / "tenants", "alpha", "2026.11")
    (message,) = module(tmp_path / "tenants", inventory)["failedAssertions"]
    assert message == (
        "services.saasTenants.app.releases has no package for 2027.01, "
        "which nix/inventory.json lists in releases.known"
    )


@needs_nixpkgs_lib
def test_module_needs_the_legacy_package_only_for_tenants_without_a_release(
    tmp_path: Path,
) -> None:
    inventory = inventory_with(
        tmp_path, {"default": "2026.11", "known": ["2026.11"]}, FIXTURES / "inventory.json"
    )
    no_package = "{ lib, ... }: { services.saasTenants.app.package = lib.mkForce null; }"
    machine_tenant(tmp_path / "tenants", "alpha", "2026.11")
    assert module(tmp_path / "tenants", inventory, no_package)["failedAssertions"] == []
    machine_tenant(tmp_path / "tenants", "bravo")
    # A real switch checks assertions before it builds a unit; the unit alone would throw.
    (message,) = module(tmp_path / "tenants", inventory, no_package, ".failedAssertions")
    assert message == (
        "services.saasTenants.app.package is not set, yet tenants/bravo.json name no release"
    )


@needs_nixpkgs_lib
def test_module_vm_fixtures_moving_one_tenant_restarts_its_app_only() -> None:
    """What nix/tests/tenants.nix switches between, where a machine without KVM can look."""
    inventory = FIXTURES / "inventory.json"
    old, new = module(FIXTURES / "removed", inventory), module(FIXTURES / "released", inventory)
    assert old["failedAssertions"] == new["failedAssertions"] == []
    for option in ("services", "sockets", "users", "virtualHosts", "certificates"):
        assert set(old[option]) == set(new[option]), option
        changed = {name for name in old[option] if old[option][name] != new[option][name]}
        assert changed == ({"tenant-app@alpha-db"} if option == "services" else set()), option
