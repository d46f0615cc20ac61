"""Helpers for tests that evaluate nix/: tenant files in tmp dirs, nix-instantiate calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.contract.tenant import UID_RANGE

REPO = Path(__file__).resolve().parent.parent
NIX_DIR = REPO / "nix"
INVENTORY = NIX_DIR / "inventory.json"
NIX_INSTANTIATE = shutil.which("nix-instantiate")

# nixpkgs' lib (only lib/, e.g. a checkout of nix-community/nixpkgs.lib) for the tests that run
# the real module system; CI machines have no nixpkgs, so those tests skip there.
NIXPKGS_LIB = os.environ.get("NIXPKGS_LIB", "")

needs_nix = [
    pytest.mark.nix,
    pytest.mark.skipif(NIX_INSTANTIATE is None, reason="nix-instantiate is not installed"),
]


def nix_str(value: str) -> str:
    """A Nix string literal for any text: JSON escapes plus an escaped interpolation."""
    return json.dumps(value).replace("${", "\\${")


def nix_path(path: Path) -> str:
    """A Nix path for any directory name, which a bare path literal cannot always spell."""
    return f"(/. + {nix_str(str(path))})"


def uid_of(slug: str) -> int:
    """A uid for a test tenant: fixed per slug, and apart for the few slugs one test writes
    (write_fleet numbers its own tenants, so a large fleet never meets a collision)."""
    return UID_RANGE.start + zlib.crc32(slug.encode()) % len(UID_RANGE)


def tenant_data(
    slug: str,
    *,
    host: str = "web-1",
    plan: str = "pro",
    state: str = "active",
    domains: tuple[str, ...] = (),
    uid: int | None = None,
    release: str | None = None,
) -> dict[str, Any]:
    # No release: the file as it was before releases, which runs the legacy app.package.
    named = {} if release is None else {"release": release}
    return {
        **named,
        "$schema": "./tenant.schema.json",
        "createdAt": "2026-11-02T09:30:00Z",
        "domains": list(domains),
        "host": host,
        "origin": f"msg_test_{slug}",
        "plan": plan,
        "schemaVersion": 1,
        "slug": slug,
        "state": state,
        "uid": uid_of(slug) if uid is None else uid,
    }


def write_tenant(
    directory: Path, slug: str, *, file_name: str | None = None, **fields: Any
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (file_name or f"{slug}.json")
    data = tenant_data(slug, **fields)
    path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n")
    return path


def write_fleet(
    directory: Path, count: int, *, hosts: tuple[str, ...] = ("web-1", "web-2")
) -> None:
    """`count` tenants spread over `hosts`, every fifth with a custom domain."""
    for i in range(count):
        slug = f"tenant{i:05d}"
        domains = (f"shop{i}.example.org",) if i % 5 == 0 else ()
        write_tenant(
            directory, slug, host=hosts[i % len(hosts)], domains=domains, uid=UID_RANGE.start + i
        )


def run_nix(expr: str, *, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    assert NIX_INSTANTIATE is not None
    return subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", *extra, "-E", expr],
        capture_output=True,
        text=True,
        check=False,
    )


def nix_eval(expr: str) -> Any:
    result = run_nix(expr)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def nix_error(expr: str) -> str:
    result = run_nix(expr)
    assert result.returncode != 0, f"evaluation succeeded: {result.stdout[:500]}"
    return result.stderr


def with_lib(body: str) -> str:
    """An expression with `tenantLib` and the repo's checked `inventory` in scope."""
    return (
        f"let tenantLib = import {nix_path(NIX_DIR / 'lib.nix')}; "
        f"inventory = tenantLib.readInventory {nix_path(INVENTORY)}; in {body}"
    )


def plans_expr(tenants_dir: Path, host: str = "web-1") -> str:
    return with_lib(
        f"tenantLib.hostPlans {{ dir = {nix_path(tenants_dir)}; inherit inventory; "
        f"host = {nix_str(host)}; }}"
    )


def artifacts_expr(tenants_dir: Path, host: str = "web-1") -> str:
    """Per tenant: its plan as JSON, a store file and a derivation built from the plan."""
    return with_lib(
        f"let plans = tenantLib.hostPlans {{ dir = {nix_path(tenants_dir)}; inherit inventory; "
        f"host = {nix_str(host)}; }}; in builtins.mapAttrs (slug: p: rec {{ "
        "json = builtins.toJSON p; "
        "units = builtins.toJSON (tenantLib.tenantUnits tenantLib.defaultSettings p); "
        "vhosts = builtins.toJSON (tenantLib.tenantVirtualHosts tenantLib.defaultSettings p); "
        'hash = builtins.hashString "sha256" (json + units + vhosts); '
        'file = builtins.toFile "tenant-${slug}-plan.json" json; '
        'drv = (derivation { name = "tenant-${slug}-plan"; system = "x86_64-linux"; '
        'builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; '
        "inherit json units vhosts; }).drvPath; "
        "}) plans"
    )


def eval_bot_module(config: str, attribute: str = "") -> subprocess.CompletedProcess[str]:
    """nix/tests/bot-module-eval.nix (services.gitops-bot) with `config`, as JSON."""
    expression = (
        f"(import {nix_path(NIX_DIR / 'tests' / 'bot-module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; config = {config}; }}){attribute}"
    )
    return subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
