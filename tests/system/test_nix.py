"""The pure Nix core (nix/lib.nix) and the module, evaluated with nix-instantiate."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nix_helpers import (
    INVENTORY,
    NIX_DIR,
    NIX_INSTANTIATE,
    NIXPKGS_LIB,
    REPO,
    artifacts_expr,
    needs_nix,
    nix_error,
    nix_eval,
    nix_path,
    nix_str,
    plans_expr,
    with_lib,
    write_fleet,
    write_tenant,
)

from gitops_bot.contract.tenant import RESERVED_SLUGS, hostname_problem, slug_problem

pytestmark = needs_nix

# The project's own files only: not demo state, caches or build output.
NIX_FILES = sorted([*REPO.glob("*.nix"), *(REPO / "nix").rglob("*.nix")])


@pytest.mark.parametrize("path", NIX_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_nix_file_parses(path: Path) -> None:
    assert NIX_INSTANTIATE is not None
    result = subprocess.run(
        [NIX_INSTANTIATE, "--parse", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_expected_nix_files_exist() -> None:
    names = {str(p.relative_to(REPO)) for p in NIX_FILES}
    assert {"flake.nix", "nix/lib.nix", "nix/module.nix", "nix/network.nix"} <= names
    assert "nix/tests/tenants.nix" in names


def test_example_tenants_load_and_each_host_gets_exactly_its_own() -> None:
    tenants = REPO / "tenants"
    assert set(nix_eval(plans_expr(tenants, "web-1"))) == {"acme", "initech"}
    assert set(nix_eval(plans_expr(tenants, "web-2"))) == {"globex"}
    assert nix_eval(plans_expr(tenants, "web-9")) == {}


def test_a_plan_names_everything_the_module_creates() -> None:
    plan = nix_eval(plans_expr(REPO / "tenants"))["initech"]
    assert plan["units"] == {
        "app": "tenant-app@initech.service",
        "socket": "tenant-app@initech.socket",
        "database": "tenant-db@initech.service",
        "route": "tenant-route@initech.service",
    }
    assert plan["user"] == plan["group"] == plan["database"]["role"] == "tenant-initech"
    assert plan["uid"] == plan["gid"] == 0x70000002
    assert plan["socket"] == "/run/tenant-sockets/initech.sock"
    assert plan["statePath"] == "/var/lib/tenants/initech"
    assert plan["route"] == {
        "subdomain": "initech.tenants.example.com",
        "customDomains": ["portal.initech.example"],
    }
    assert plan["limits"] == {"MemoryMax": "4G", "CPUQuota": "200%"}
    assert plan["active"] is False


def test_long_slugs_get_short_unique_user_names_from_their_uid(tmp_path: Path) -> None:
    long_a, long_b = "a" * 30 + "-one", "a" * 30 + "-two"
    write_tenant(tmp_path, long_a, uid=0x70000010)
    write_tenant(tmp_path, long_b, uid=0x70FFFFFF)
    plans = nix_eval(plans_expr(tmp_path))
    assert plans[long_a]["user"] == f"t-{'a' * 16}-{0x70000010}"
    assert plans[long_b]["user"] == f"t-{'a' * 16}-{0x70FFFFFF}"
    assert all(len(plans[s]["user"]) <= 31 for s in (long_a, long_b))
    # naming 1's hashed name is kept for the database unit's one-time rename.
    assert plans[long_a]["legacyUser"].startswith(f"t-{'a' * 20}-")


def test_only_slug_json_files_are_read(tmp_path: Path) -> None:
    write_tenant(tmp_path, "alpha")
    shutil.copy(REPO / "tenants" / "tenant.schema.json", tmp_path)
    (tmp_path / "README.md").write_text("not a tenant\n")
    (tmp_path / "Bravo.json").write_text("{ not even json")
    (tmp_path / "x;y.json").write_text("{ not even json")
    (tmp_path / "subdir.json").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "alpha.json")
    assert set(nix_eval(plans_expr(tmp_path))) == {"alpha"}


def _artifacts(directory: Path) -> dict[str, dict[str, str]]:
    result: dict[str, dict[str, str]] = nix_eval(artifacts_expr(directory))
    return result


def test_adding_a_tenant_leaves_every_existing_plan_byte_identical(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    write_fleet(before, 12, hosts=("web-1",))
    shutil.copytree(before, after)
    write_tenant(after, "newcomer", domains=("www.newcomer.example",))
    write_tenant(after, "other-host", host="web-2")

    old, new = _artifacts(before), _artifacts(after)

    assert set(new) == set(old) | {"newcomer"}
    for slug, artifacts in old.items():
        assert new[slug] == artifacts, slug


def test_a_plan_ignores_the_folder_path_and_the_other_files(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "elsewhere" / "two[x] ${y}"
    write_fleet(first, 6, hosts=("web-1",))
    second.mkdir(parents=True)
    shutil.copy(first / "tenant00003.json", second)
    assert _artifacts(second)["tenant00003"] == _artifacts(first)["tenant00003"]


def test_suspending_one_tenant_changes_that_tenant_only(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    write_fleet(before, 8, hosts=("web-1",))
    shutil.copytree(before, after)
    write_tenant(after, "tenant00005", state="suspended", domains=("shop5.example.org",))

    old, new = _artifacts(before), _artifacts(after)
    changed = {slug for slug in old if old[slug] != new[slug]}
    assert changed == {"tenant00005"}
    units = json.loads(new["tenant00005"]["units"])
    assert "tenant-app@tenant00005" not in units  # a suspended tenant's app unit goes away
    assert "tenant-db@tenant00005" in units  # its database stays


def test_removing_one_tenant_changes_nothing_else(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    write_fleet(before, 8, hosts=("web-1",))
    shutil.copytree(before, after)
    (after / "tenant00002.json").unlink()

    old, new = _artifacts(before), _artifacts(after)
    assert set(old) - set(new) == {"tenant00002"}
    assert all(new[slug] == old[slug] for slug in new)


HOSTILE_VALUES = {
    "double-quote": 'evil"x',
    "single-quote": "evil'x",
    "semicolon": "evil;x",
    "slash": "evil/x",
    "dotdot": "evil..x",
    "newline": "evil\nx",
    "interpolation": "evil${x}",
    "space": "evil x",
    "brace": "evil}x",
    "uppercase": "Evil",
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_a_hostile_slug_stops_evaluation_naming_the_file(tmp_path: Path, value: str) -> None:
    write_tenant(tmp_path, "good")
    path = tmp_path / "evil.json"
    path.write_text(json.dumps({**_raw(tmp_path / "good.json"), "slug": value}))
    error = nix_error(plans_expr(tmp_path))
    assert "tenants/evil.json: slug" in error


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=HOSTILE_VALUES.keys())
def test_a_hostile_domain_stops_evaluation_naming_the_file(tmp_path: Path, value: str) -> None:
    write_tenant(tmp_path, "evil", domains=(f"{value}.example.com",))
    error = nix_error(plans_expr(tmp_path))
    assert "tenants/evil.json: domain" in error


@pytest.mark.parametrize(
    "domain",
    [
        "shop.tenants.example.com",  # under the base domain: that is a subdomain route
        "tenants.example.com",
        "localhost",
        "example.123",
        "xn--bcher-kva.example",
        "-bad.example.com",
        "a" * 64 + ".example.com",
    ],
)
def test_unsafe_or_foreign_domains_are_refused(tmp_path: Path, domain: str) -> None:
    write_tenant(tmp_path, "shop", domains=(domain,))
    assert "tenants/shop.json: domain" in nix_error(plans_expr(tmp_path))


@pytest.mark.parametrize(
    ("domain", "why"),
    [
        ("example.com", "is a parent of the base domain tenants.example.com"),
        ("web-1.fleet.example.net", "is under host web-1's address"),
        ("admin.web-2.fleet.example.net", "is under host web-2's address"),
    ],
)
def test_a_domain_the_operator_owns_stops_evaluation(tmp_path: Path, domain: str, why: str) -> None:
    write_tenant(tmp_path, "shop", domains=(domain,))
    assert f'tenants/shop.json: domain "{domain}" {why}' in nix_error(plans_expr(tmp_path))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "web;1", "host"),
        ("plan", "gold", "not in nix/inventory.json"),
        ("plan", "pro\n", "plan"),
        ("state", "deleted", "state"),
        ("schemaVersion", 2, "schemaVersion"),
        ("domains", "portal.example.com", "domains must be a list"),
    ],
)
def test_other_fields_are_checked_too(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    path = write_tenant(tmp_path, "shop")
    path.write_text(json.dumps({**_raw(path), field: value}))
    error = nix_error(plans_expr(tmp_path))
    assert "tenants/shop.json" in error
    assert message in error


def test_a_slug_that_does_not_match_its_file_name_is_refused(tmp_path: Path) -> None:
    write_tenant(tmp_path, "alpha", file_name="bravo.json")
    assert "tenants/bravo.json: slug" in nix_error(plans_expr(tmp_path))


def test_a_hostile_inventory_stops_evaluation(tmp_path: Path) -> None:
    inventory = json.loads(INVENTORY.read_text())
    inventory["plans"]["pro"]["memoryMax"] = "1G\nExecStartPre=/bin/sh"
    bad = tmp_path / "inventory.json"
    bad.write_text(json.dumps(inventory))
    write_tenant(tmp_path / "tenants", "alpha")
    expr = (
        f"let l = import {nix_path(NIX_DIR / 'lib.nix')}; in l.hostPlans {{ "
        f"dir = {nix_path(tmp_path / 'tenants')}; inventory = builtins.fromJSON "
        f'(builtins.readFile {nix_path(bad)}); host = "web-1"; }}'
    )
    assert "nix/inventory.json: plans.pro.memoryMax" in nix_error(expr)


def _raw(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_the_reserved_slugs_match_the_python_contract() -> None:
    assert set(nix_eval(with_lib("tenantLib.reservedSlugs"))) == RESERVED_SLUGS


SLUG_SAMPLES = [
    "acme", "ab", "a-b", "abc-", "-abc", "ab--c", "xn--abc", "a" * 40, "a" * 41, "www",
    "Acme", "acme_1", "ac me", "0ne", "tenant00001", "a.b", "",
]  # fmt: skip
HOST_SAMPLES = [
    "portal.initech.example", "example", "a.b", "a.b1", "-a.example", "a-.example",
    "xn--bcher-kva.example", "ab--cd.example", "a..b", "UPPER.example", "a_b.example",
    "x" * 63 + ".example", "x" * 64 + ".example", ("a" * 60 + ".") * 4 + "ab", "a.b.c.d.e.f",
]  # fmt: skip


def test_nix_and_python_agree_on_slugs() -> None:
    samples = " ".join(map(nix_str, SLUG_SAMPLES))
    verdicts = nix_eval(with_lib(f"map (s: tenantLib.slugProblem s == null) [ {samples} ]"))
    assert verdicts == [slug_problem(s) is None for s in SLUG_SAMPLES]


def test_nix_and_python_agree_on_hostnames() -> None:
    samples = " ".join(map(nix_str, HOST_SAMPLES))
    verdicts = nix_eval(with_lib(f"map (d: tenantLib.hostnameProblem d == null) [ {samples} ]"))
    assert verdicts == [hostname_problem(d) is None for d in HOST_SAMPLES]


def test_the_plan_summary_evaluates_in_restricted_mode() -> None:
    assert NIX_INSTANTIATE is not None
    expr = f"import {nix_path(NIX_DIR / 'summary.nix')} {{ repo = {nix_path(REPO)}; }}"
    restricted = ("--option", "restrict-eval", "true", "-I", str(REPO))
    result = subprocess.run(
        [NIX_INSTANTIATE, "--eval", "--strict", "--json", *restricted, "-E", expr],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["hosts"]["web-1"]) == {"acme", "initech"}
    assert set(summary["hosts"]["web-1"]["initech"]["units"]) == {
        "tenant-db@initech.service",
        "tenant-route@initech.service",
    }
    assert summary["naming"] == 2
    assert summary["problems"] == {"web-1": [], "web-2": []}


# The real module system, against stub options (nix/tests/stub-options.nix). Needs nixpkgs'
# lib; set NIXPKGS_LIB to a lib/ folder (for example of nix-community/nixpkgs.lib).
needs_nixpkgs_lib = pytest.mark.skipif(
    not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
    reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
)
FIXTURES = NIX_DIR / "tests" / "fixtures"


def _module(tenants: Path, attribute: str = "", extra: str = "{ }") -> Any:
    return nix_eval(
        f"(import {nix_path(NIX_DIR / 'tests' / 'module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; tenantsDir = {nix_path(tenants)}; "
        f'inventoryFile = {nix_path(FIXTURES / "inventory.json")}; hostName = "machine"; '
        f"extraConfig = {extra}; }})" + (f".{attribute}" if attribute else "")
    )


def _changed(old: dict[str, str], new: dict[str, str]) -> set[str]:
    """Names present before whose definition differs after (or that are gone)."""
    return {name for name in old if new.get(name) != old[name]}


NEWCOMERS = ("charlie", "alpha-db")
NEW_DOMAINS = ("shop.charlie.test", "www.bravo.test")


@needs_nixpkgs_lib
def test_module_adding_a_tenant_and_a_domain_changes_no_existing_unit() -> None:
    old, new = _module(FIXTURES / "before"), _module(FIXTURES / "after")
    assert old["failedAssertions"] == new["failedAssertions"] == []
    for key in ("services", "sockets", "virtualHosts", "certificates", "users"):
        assert _changed(old[key], new[key]) == set(), key
    # charlie and alpha-db join (alpha-db beside alpha), bravo gains a second custom domain.
    assert set(new["services"]) - set(old["services"]) == {
        *(f"tenant-{kind}@{slug}" for kind in ("app", "db", "route") for slug in NEWCOMERS),
        *(f"acme{part}-{d}" for part in ("", "-order-renew") for d in NEW_DOMAINS),
    }
    assert set(new["sockets"]) - set(old["sockets"]) == {f"tenant-app@{s}" for s in NEWCOMERS}
    assert set(new["virtualHosts"]) - set(old["virtualHosts"]) == set(NEW_DOMAINS)
    assert new["nginx"] == old["nginx"]
    assert new["nginx"]["enableReload"] is True


@needs_nixpkgs_lib
def test_module_adding_a_subdomain_tenant_changes_no_nginx_configuration(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "before", tmp_path / "tenants")
    old = _module(tmp_path / "tenants")
    write_tenant(tmp_path / "tenants", "delta", host="machine", plan="small")
    new = _module(tmp_path / "tenants")
    assert new["virtualHosts"] == old["virtualHosts"]
    assert new["certificates"] == old["certificates"]
    assert set(new["services"]) - set(old["services"]) == {
        "tenant-app@delta",
        "tenant-db@delta",
        "tenant-route@delta",
    }


@needs_nixpkgs_lib
def test_module_suspending_a_tenant_touches_only_its_units() -> None:
    old, new = _module(FIXTURES / "after"), _module(FIXTURES / "suspended")
    assert _changed(old["services"], new["services"]) == {
        "tenant-app@bravo",
        "tenant-route@bravo",
    }
    assert _changed(old["sockets"], new["sockets"]) == {"tenant-app@bravo"}
    assert "tenant-app@bravo" not in new["services"]
    assert new["virtualHosts"] == old["virtualHosts"]


@needs_nixpkgs_lib
def test_module_refuses_a_domain_claimed_twice(tmp_path: Path) -> None:
    write_tenant(tmp_path, "alpha", host="machine", plan="small", domains=("shop.example.org",))
    write_tenant(tmp_path, "bravo", host="machine", plan="small", domains=("shop.example.org",))
    (message,) = _module(tmp_path, "failedAssertions")
    assert "tenants/alpha.json and tenants/bravo.json share" in message
    assert "serverNames name shop.example.org" in message


@needs_nixpkgs_lib
def test_module_wires_the_port_network_limits_hardening_and_shared_units() -> None:
    evaluated = _module(
        FIXTURES / "after",
        extra="{ services.postgresql.settings.port = 5433; "
        'services.saasTenants.app.allowedAddresses = [ "localhost" "10.0.0.0/8" ]; }',
    )
    assert evaluated["failedAssertions"] == []
    services = {name: json.loads(text) for name, text in evaluated["services"].items()}
    app, database = services["tenant-app@alpha"], services["tenant-db@alpha"]
    assert app["environment"]["PGPORT"] == database["environment"]["PGPORT"] == "5433"
    config = app["serviceConfig"]
    assert config["IPAddressDeny"] == ["any"]
    assert config["IPAddressAllow"] == ["localhost", "10.0.0.0/8"]
    assert config["SystemCallFilter"] == ["@system-service"]
    assert (config["ProcSubset"], config["PrivateIPC"], config["UMask"]) == ("pid", True, "0077")
    assert app["stopIfChanged"] is False  # a switch restarts the app alone, keeping its socket
    # The shared revoke runs once, and no tenant unit depends on it.
    assert (
        "REVOKE CONNECT, TEMPORARY ON DATABASE template1"
        in (services["tenants-postgresql-public"]["script"])
    )
    tenant_units = [u for name, u in services.items() if "@" in name]
    assert not [u for u in tenant_units if "tenants-postgresql-public" in json.dumps(u)]
    # HTTP-01 orders wait for nginx, on an account of their own (nixpkgs' account hash
    # covers the key type), not behind the DNS-01 wildcard's.
    order = services["acme-order-renew-shop.charlie.test"]
    assert "nginx.service" in order["after"]
    certificates = {n: json.loads(t) for n, t in evaluated["certificates"].items()}
    assert certificates["shop.charlie.test"]["keyType"] == "ec384"
    assert "keyType" not in certificates["tenants.test"]
    socket = json.loads(evaluated["sockets"]["tenant-app@alpha"])
    assert socket["listenStreams"] == ["/run/tenant-sockets/alpha.sock"]
    assert socket["socketConfig"] | {"Backlog": 512} == {
        "SocketUser": "root",
        "SocketGroup": "nginx",
        "SocketMode": "0660",
        "DirectoryMode": "0755",
        "Backlog": 512,
    }


@needs_nixpkgs_lib
def test_module_refuses_a_tenant_name_the_host_defines_itself(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "before", tmp_path / "tenants")
    (message,) = _module(
        tmp_path / "tenants",
        "failedAssertions",
        extra="{ lib, ... }: { users.users.other.uid = 1879048448; "
        'systemd.services = lib.mkIf true { "tenant-db@alpha".enable = false; }; }',
    )
    assert "uids the host already has: 1879048448" in message
    assert "services the host already has: tenant-db@alpha" in message
