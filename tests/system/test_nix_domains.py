"""Pending custom domains in nix/: validated and reserved, but no vhost and no certificate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nix_helpers import (
    NIX_DIR,
    NIXPKGS_LIB,
    needs_nix,
    nix_error,
    nix_eval,
    nix_path,
    plans_expr,
    tenant_data,
)

pytestmark = needs_nix

needs_nixpkgs_lib = pytest.mark.skipif(
    not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
    reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
)
FIXTURES = NIX_DIR / "tests" / "fixtures"


def _write(
    directory: Path, slug: str, *, pending: list[str], domains: tuple[str, ...] = ()
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {
        **tenant_data(slug, host="machine", plan="small", domains=domains),
        "pendingDomains": pending,
    }
    (directory / f"{slug}.json").write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")


def _module(tenants: Path, attribute: str = "") -> Any:
    return nix_eval(
        f"(import {nix_path(NIX_DIR / 'tests' / 'module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; tenantsDir = {nix_path(tenants)}; "
        f'inventoryFile = {nix_path(FIXTURES / "inventory.json")}; hostName = "machine"; '
        "extraConfig = { }; })" + (f".{attribute}" if attribute else "")
    )


@needs_nixpkgs_lib
def test_a_pending_domain_gets_no_vhost_and_no_certificate_until_verified(tmp_path: Path) -> None:
    _write(tmp_path / "tenants", "alpha", pending=["shop.alpha.test"])
    pending = _module(tmp_path / "tenants")
    assert pending["failedAssertions"] == []
    assert "shop.alpha.test" not in pending["virtualHosts"]
    assert "shop.alpha.test" not in pending["certificates"]
    assert not [s for s in pending["services"] if s.startswith("acme") and "alpha" in s]

    _write(tmp_path / "tenants", "alpha", pending=[], domains=("shop.alpha.test",))
    verified = _module(tmp_path / "tenants")
    assert "shop.alpha.test" in verified["virtualHosts"]
    assert "shop.alpha.test" in verified["certificates"]
    assert "acme-shop.alpha.test" in verified["services"]


@needs_nixpkgs_lib
def test_a_pending_domain_is_reserved_against_another_tenants_domain(tmp_path: Path) -> None:
    _write(tmp_path, "alpha", pending=["shop.example.org"])
    _write(tmp_path, "bravo", pending=[], domains=("shop.example.org",))
    (message,) = _module(tmp_path, "failedAssertions")
    assert "tenants/alpha.json and tenants/bravo.json share" in message
    assert "serverNames name shop.example.org" in message


def test_a_plan_keeps_pending_domains_out_of_the_route(tmp_path: Path) -> None:
    data = {**tenant_data("alpha"), "pendingDomains": ["shop.alpha.test"]}
    (tmp_path / "alpha.json").write_text(json.dumps(data))
    plan = nix_eval(plans_expr(tmp_path))["alpha"]
    assert plan["route"]["customDomains"] == []
    assert plan["pendingDomains"] == ["shop.alpha.test"]


@pytest.mark.parametrize("value", ["Shop.Example.org", "tenants.example.com", "a..b"])
def test_a_bad_pending_domain_stops_evaluation_naming_the_file(tmp_path: Path, value: str) -> None:
    data = {**tenant_data("alpha"), "pendingDomains": [value]}
    (tmp_path / "alpha.json").write_text(json.dumps(data))
    assert "tenants/alpha.json" in nix_error(plans_expr(tmp_path))
