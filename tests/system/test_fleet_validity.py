"""Every valid fleet keeps every host valid: no name shared, none taken from the host."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nix_helpers import (
    INVENTORY,
    NIX_DIR,
    NIXPKGS_LIB,
    needs_nix,
    nix_error,
    nix_eval,
    nix_path,
    write_tenant,
)

from gitops_bot.contract.tenant import UID_RANGE, slug_problem

pytestmark = needs_nix

# Names a NixOS host running this module already has, or that the module's own shared parts
# take: a tenant must never derive one of them, whatever its slug.
HOST_NAMES: Final = {
    "units": {
        "nginx.service", "nginx-config-reload.service", "postgresql.service",
        "postgresql-setup.service", "acme-setup.service", "sshd.service",
        "tenants-postgresql-public.service", "multi-user.target", "sockets.target",
    },
    "users": {"root", "nobody", "nginx", "postgres", "acme", "sshd", "messagebus", "nixbld1"},
    "groups": {"root", "nogroup", "nginx", "postgres", "acme", "wheel", "nixbld", "users"},
    "postgresqlRoles": {"postgres"},
    "postgresqlDatabases": {"postgres", "template0", "template1"},
    "runtimeDirectories": {"nginx", "postgresql", "tenants", "tenant-routes", "tenant-sockets"},
    "stateDirectories": {"nginx", "postgresql", "acme", "tenants", "nixos"},
}  # fmt: skip
# Words a slug could end in to mimic another tenant's unit, user or directory.
SUFFIXES: Final = ("-db", "-route", "-app", "-socket", "-sock", "-http", "-public")
PREFIXES: Final = ("db-", "route-", "app-", "tenant-", "t-")
SHARED: Final = (
    "nginx", "postgres", "postgresql", "acme", "sshd", "nobody", "tenant", "tenants",
    "tenant-app", "tenant-db", "tenant-route", "tenants-postgresql-public",
    "nginx-config-reload", "acme-setup", "postgresql-setup", "messagebus", "nixbld1",
)  # fmt: skip

# The rules NixOS and the programs behind it put on these names.
UNIT_NAME: Final = re.compile(r"[A-Za-z0-9:_.\\-]+@[A-Za-z0-9:_.\\-]+\.(service|socket)")
USER_NAME: Final = re.compile(r"[a-z_][a-z0-9_-]{0,30}")
SUN_PATH_MAX: Final = 107  # sockaddr_un.sun_path holds 108 bytes with the final NUL
POSTGRESQL_NAME_MAX: Final = 63

words = st.from_regex(r"[a-z][a-z0-9]{2,12}", fullmatch=True)


@st.composite
def fleets(draw: st.DrawFn, max_size: int = 10) -> list[tuple[str, int]]:
    """Valid slugs chosen to meet each other's derived names, each with a distinct uid."""
    base = draw(words)
    long_base = draw(st.from_regex(r"[a-z]{16}[a-z0-9]{0,4}", fullmatch=True))
    candidates = st.one_of(
        words,
        st.just(base),
        st.sampled_from(SUFFIXES).map(lambda s: base + s),
        st.sampled_from(PREFIXES).map(lambda p: p + base),
        st.sampled_from(SHARED),
        # Long slugs whose first 16 bytes agree, so only the uid tells their users apart.
        st.from_regex(r"[a-z0-9]{5,20}", fullmatch=True).map(lambda s: f"{long_base}-{s}"),
        words.map(lambda w: f"{w}-{base}"),
    )
    slugs = draw(st.lists(candidates, min_size=1, max_size=max_size, unique=True))
    slugs = [s for s in slugs if slug_problem(s) is None and len(s) <= 40] or ["alpha"]
    uids = draw(
        st.lists(
            st.integers(UID_RANGE.start, UID_RANGE.stop - 1),
            min_size=len(slugs),
            max_size=len(slugs),
            unique=True,
        )
    )
    return list(zip(slugs, uids, strict=True))


def has_domain(uid: int) -> bool:
    return uid % 3 != 1


def is_active(uid: int) -> bool:
    return uid % 4 != 3


def write_fleet(directory: Path, fleet: list[tuple[str, int]], **fields: Any) -> None:
    """One file per tenant; its domain and state follow from its uid, never its position,
    so the same tenant is written the same way into every folder."""
    directory.mkdir(parents=True, exist_ok=True)
    for slug, uid in fleet:
        domains = (f"{slug}.shop.example",) if has_domain(uid) else ()
        state = "active" if is_active(uid) else "suspended"
        write_tenant(directory, slug, uid=uid, domains=domains, state=state, **fields)


def core(directory: Path, inventory: Path = INVENTORY) -> dict[str, Any]:
    """Per tenant: its names in each namespace and its units; per host: its problems."""
    settings_expr = "lib.defaultSettings"
    result: dict[str, Any] = nix_eval(
        f"let lib = import {nix_path(NIX_DIR / 'lib.nix')}; "
        f"inventory = lib.readInventory {nix_path(inventory)}; "
        f"dir = {nix_path(directory)}; "
        "tenants = lib.loadTenants { inherit dir inventory; }; "
        "plans = builtins.mapAttrs (_: lib.tenantPlan inventory) tenants; "
        "in { problems = (lib.fleetSummary { inherit dir inventory; }).problems; "
        "tenants = builtins.mapAttrs (_: p: { "
        "inherit (p) host user socket; namespaces = lib.namespacesOf p; "
        f"services = builtins.mapAttrs (_: builtins.toJSON) (lib.tenantUnits {settings_expr} p); "
        f"sockets = builtins.mapAttrs (_: builtins.toJSON) (lib.tenantSockets {settings_expr} p); "
        f"vhosts = builtins.toJSON (lib.tenantVirtualHosts {settings_expr} p); "
        f"certs = builtins.toJSON (lib.tenantCertificates {settings_expr} p); "
        "}) plans; }"
    )
    return result


def assert_host_valid(tenants: dict[str, Any], problems: list[str]) -> None:
    """The whole host, checked from first principles, not from the core's own verdict."""
    assert problems == []
    for space in next(iter(tenants.values()))["namespaces"]:
        taken = Counter(name for t in tenants.values() for name in t["namespaces"][space])
        shared = {name: n for name, n in taken.items() if n > 1}
        assert not shared, f"{space} shared: {shared}"
        assert not set(taken) & HOST_NAMES.get(space, set()), f"{space} takes a host name"
    for slug, t in tenants.items():
        names = t["namespaces"]
        # Every unit the module creates is accounted for in the units namespace.
        created = {f"{u}.service" for u in t["services"]} | {f"{u}.socket" for u in t["sockets"]}
        assert created <= set(names["units"]), slug
        assert all(UNIT_NAME.fullmatch(u) and len(u) <= 255 for u in names["units"]), slug
        assert all(USER_NAME.fullmatch(u) for u in names["users"] + names["groups"]), slug
        assert all(
            len(n) <= POSTGRESQL_NAME_MAX
            for n in names["postgresqlRoles"] + names["postgresqlDatabases"]
        ), slug
        assert len(t["socket"].encode()) <= SUN_PATH_MAX, slug


def by_host(tenants: dict[str, Any], host: str) -> dict[str, Any]:
    return {slug: t for slug, t in tenants.items() if t["host"] == host}


def unit_texts(tenant: dict[str, Any]) -> tuple[Any, ...]:
    return (tenant["services"], tenant["sockets"], tenant["vhosts"], tenant["certs"])


PROPERTY: Final = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(fleet=fleets(), extra=fleets(max_size=1))
def test_every_valid_fleet_evaluates_with_unique_names_and_stable_units(
    fleet: list[tuple[str, int]], extra: list[tuple[str, int]]
) -> None:
    (newcomer, uid) = extra[0]
    if newcomer in dict(fleet) or uid in {u for _, u in fleet}:
        newcomer, uid = "newcomer-zz9", UID_RANGE.stop - 1
        fleet = [(s, u) for s, u in fleet if u != uid and s != newcomer]
    with tempfile.TemporaryDirectory() as scratch:
        before, after = Path(scratch, "before"), Path(scratch, "after")
        write_fleet(before, fleet)
        write_fleet(after, [*fleet, (newcomer, uid)])
        old, new = core(before), core(after)
    for host, problems in new["problems"].items():
        if tenants := by_host(new["tenants"], host):
            assert_host_valid(tenants, problems)
    # Adding one tenant leaves every other tenant's units byte-identical, and removing it
    # (reading `after` back to `before`) does the same.
    assert set(new["tenants"]) == set(old["tenants"]) | {newcomer}
    for slug, tenant in old["tenants"].items():
        assert unit_texts(new["tenants"][slug]) == unit_texts(tenant), slug


def test_the_check_itself_finds_a_shared_name(tmp_path: Path) -> None:
    """The invariant can fail: two files with one uid are named, both of them."""
    write_tenant(tmp_path, "alpha", uid=UID_RANGE.start)
    write_tenant(tmp_path, "bravo", uid=UID_RANGE.start)
    problems = core(tmp_path)["problems"]["web-1"]
    assert sorted(problems) == [
        f"tenants/alpha.json and tenants/bravo.json share {space} name {UID_RANGE.start}"
        for space in ("gids", "uids")
    ]


# --- the same property through the real module system ------------------------------------

needs_nixpkgs_lib = pytest.mark.skipif(
    not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
    reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
)
FIXTURES: Final = NIX_DIR / "tests" / "fixtures"


def module(directory: Path, inventory: Path = FIXTURES / "inventory.json") -> dict[str, Any]:
    result: dict[str, Any] = nix_eval(
        f"import {nix_path(NIX_DIR / 'tests' / 'module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; tenantsDir = {nix_path(directory)}; "
        f'inventoryFile = {nix_path(inventory)}; hostName = "machine"; }}'
    )
    return result


@needs_nixpkgs_lib
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(max_size=8))
def test_the_module_evaluates_every_valid_fleet_and_removing_one_changes_nobody_else(
    fleet: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        full, less = Path(scratch, "full"), Path(scratch, "less")
        write_fleet(full, fleet, host="machine", plan="small")
        write_fleet(less, fleet[1:], host="machine", plan="small")
        old, new = module(full), module(less)
    assert old["failedAssertions"] == new["failedAssertions"] == []
    users = [u for u in old["users"] if u.startswith(("tenant-", "t-"))]
    assert len(users) == len(fleet)
    assert len({json.loads(old["users"][u])["uid"] for u in users}) == len(fleet)
    slug, uid = fleet[0]
    domains = {f"{slug}.shop.example"} if has_domain(uid) else set()
    kinds = ("app", "db", "route") if is_active(uid) else ("db", "route")
    expected_gone = {
        "services": {f"tenant-{kind}@{slug}" for kind in kinds}
        | {f"acme{part}-{d}" for d in domains for part in ("", "-order-renew")},
        "sockets": {f"tenant-app@{slug}"} if is_active(uid) else set(),
        "virtualHosts": domains,
        "certificates": domains,
    }
    for option in ("services", "sockets", "users", "virtualHosts", "certificates"):
        gone = set(old[option]) - set(new[option])
        if option == "users":
            assert len(gone) == 1, gone
        else:
            assert gone == expected_gone[option], option
        assert set(new[option]) <= set(old[option]), option
        for name in new[option]:
            assert old[option][name] == new[option][name], (option, name)


# --- releases: moving one tenant to another release restarts that tenant's app only ------

# None is a file from before releases (the legacy app.package).
RELEASES: Final = (None, "2026.11", "2026.12")


def with_releases(source: Path, target: Path) -> Path:
    """`source`'s inventory, listing RELEASES as the releases tenants may name."""
    inventory = json.loads(source.read_text())
    inventory["releases"] = {"default": "2026.11", "known": [r for r in RELEASES if r]}
    target.write_text(json.dumps(inventory))
    return target


def write_releases(
    directory: Path, fleet: list[tuple[str, int]], moved: str, **fields: Any
) -> None:
    """`fleet` with a release per tenant chosen by its uid; `moved` gets the next one."""
    for slug, uid in fleet:
        step = 1 if slug == moved else 0
        release = RELEASES[(uid + step) % len(RELEASES)]
        domains = (f"{slug}.shop.example",) if has_domain(uid) else ()
        state = "active" if is_active(uid) else "suspended"
        write_tenant(
            directory, slug, uid=uid, domains=domains, state=state, release=release, **fields
        )


@PROPERTY
@given(fleet=fleets(), pick=st.integers(min_value=0))
def test_changing_one_tenants_release_changes_its_app_unit_and_nothing_else(
    fleet: list[tuple[str, int]], pick: int
) -> None:
    moved, uid = fleet[pick % len(fleet)]
    with tempfile.TemporaryDirectory() as scratch:
        inventory = with_releases(INVENTORY, Path(scratch, "inventory.json"))
        before, after = Path(scratch, "before"), Path(scratch, "after")
        write_releases(before, fleet, moved="")
        write_releases(after, fleet, moved=moved)
        old, new = core(before, inventory), core(after, inventory)
    assert all(p == [] for p in [*old["problems"].values(), *new["problems"].values()])
    for slug, tenant in old["tenants"].items():
        if slug != moved:
            assert unit_texts(new["tenants"][slug]) == unit_texts(tenant), slug
    was, now = old["tenants"][moved], new["tenants"][moved]
    changed = {u for u in was["services"] if was["services"][u] != now["services"][u]}
    # A suspended tenant runs no app, so its new release changes nothing until it resumes.
    assert changed == ({f"tenant-app@{moved}"} if is_active(uid) else set())
    assert set(was["services"]) == set(now["services"])
    assert (was["sockets"], was["vhosts"], was["certs"]) == (
        now["sockets"],
        now["vhosts"],
        now["certs"],
    )
    assert was["namespaces"] == now["namespaces"]


def test_an_unknown_release_stops_evaluation_naming_the_file(tmp_path: Path) -> None:
    write_tenant(tmp_path / "tenants", "alpha", release="2027.01")
    error = nix_error(
        f"let lib = import {nix_path(NIX_DIR / 'lib.nix')}; in builtins.attrNames "
        f"(lib.loadTenants {{ dir = {nix_path(tmp_path / 'tenants')}; "
        f"inventory = lib.readInventory {nix_path(INVENTORY)}; }})"
    )
    assert 'tenants/alpha.json: release "2027.01" is not in nix/inventory.json releases.known' in (
        error
    )


@needs_nixpkgs_lib
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(max_size=6), pick=st.integers(min_value=0))
def test_the_module_restarts_only_the_moved_tenants_app_for_a_new_release(
    fleet: list[tuple[str, int]], pick: int
) -> None:
    moved, uid = fleet[pick % len(fleet)]
    with tempfile.TemporaryDirectory() as scratch:
        inventory = with_releases(FIXTURES / "inventory.json", Path(scratch, "inventory.json"))
        before, after = Path(scratch, "before"), Path(scratch, "after")
        write_releases(before, fleet, moved="", host="machine", plan="small")
        write_releases(after, fleet, moved=moved, host="machine", plan="small")
        old, new = module(before, inventory), module(after, inventory)
    assert old["failedAssertions"] == new["failedAssertions"] == []
    for option in ("services", "sockets", "users", "virtualHosts", "certificates"):
        assert set(old[option]) == set(new[option]), option
        changed = {name for name in old[option] if old[option][name] != new[option][name]}
        expected = {f"tenant-app@{moved}"} if option == "services" and is_active(uid) else set()
        assert changed == expected, option
    if is_active(uid):
        release = RELEASES[(uid + 1) % len(RELEASES)]
        exec_start = json.loads(new["services"][f"tenant-app@{moved}"])["serviceConfig"][
            "ExecStart"
        ]
        assert f"-stub-app{'-' + release if release else ''}/bin/" in exec_start
