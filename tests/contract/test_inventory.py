"""Placement: the host with the most free seats gets the next tenant."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gitops_bot.contract.inventory import Inventory

PLANS = {"pro": {"memoryMax": "1G", "cpuQuota": "100%"}}


def inventory(**capacities: int) -> Inventory:
    return Inventory.model_validate(
        {
            "baseDomain": "tenants.example.com",
            "hosts": {
                name: {"address": f"{name}.example.net", "capacity": c}
                for name, c in capacities.items()
            },
            "plans": PLANS,
        }
    )


def test_most_free_capacity_wins() -> None:
    fleet = inventory(a=10, b=20)
    assert fleet.place({"a": 0, "b": 5}) == "b"
    assert fleet.place({"a": 0, "b": 15}) == "a"


def test_ties_go_to_the_first_name() -> None:
    assert inventory(b=5, a=5).place({}) == "a"


def test_full_fleet_places_nothing() -> None:
    assert inventory(a=1, b=2).place({"a": 1, "b": 2}) is None


def test_domain_is_ours() -> None:
    fleet = inventory(a=1)
    assert fleet.domain_is_ours("tenants.example.com")
    assert fleet.domain_is_ours("acme.tenants.example.com")
    assert not fleet.domain_is_ours("eviltenants.example.com")
    assert not fleet.domain_is_ours("shop.acme.example")


def test_why_ours_names_the_base_domain_its_parents_and_host_addresses() -> None:
    fleet = Inventory.model_validate(
        {
            "baseDomain": "tenants.example.com",
            "hosts": {"a": {"address": "root@A.Fleet.example.net", "capacity": 1}},
            "plans": PLANS,
        }
    )
    assert fleet.why_ours("example.com") == "is a parent of the base domain tenants.example.com"
    assert fleet.why_ours("com") == "is a parent of the base domain tenants.example.com"
    assert (
        fleet.why_ours("x.a.fleet.example.net") == "is under host a's address a.fleet.example.net"
    )
    assert fleet.why_ours("fleet.example.net") is None  # the operator's zone, not a host
    assert fleet.why_ours("shop.acme.example") is None


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        inventory(a=0)


def test_releases_are_optional_and_name_the_default() -> None:
    assert inventory(a=1).default_release is None
    fleet = Inventory.model_validate(
        {
            **inventory(a=1).model_dump(by_alias=True),
            "releases": {"default": "2026.12", "known": ["2026.11", "2026.12"]},
        }
    )
    assert fleet.default_release == "2026.12"
    assert fleet.release_problem("2026.11") is None
    assert fleet.release_problem("2027.01") == (
        "unknown release '2027.01' (one of nix/inventory.json's releases: 2026.11, 2026.12)"
    )


def test_the_stored_inventory_reads_back_with_its_releases() -> None:
    # The queue keeps the inventory as JSON in meta; intake reads the default from there.
    fleet = Inventory.model_validate(
        {
            **inventory(a=1).model_dump(by_alias=True),
            "releases": {"default": "2026.11", "known": ["2026.11"]},
        }
    )
    again = Inventory.model_validate_json(fleet.model_dump_json(by_alias=True))
    assert again == fleet
    legacy = inventory(a=1)
    assert Inventory.model_validate_json(legacy.model_dump_json(by_alias=True)) == legacy


def host(**fields: object) -> dict[str, object]:
    return {"address": "web-1.example.net", "capacity": 1, **fields}


def fleet_of(**fields: object) -> Inventory:
    return Inventory.model_validate(
        {"baseDomain": "tenants.example.com", "hosts": {"web-1": host(**fields)}, "plans": PLANS}
    )


def test_hosts_are_pushed_to_unless_they_pull() -> None:
    assert not fleet_of().hosts["web-1"].pulls
    pulling = fleet_of(deploy="comin", exporter="10.0.0.7:4243").hosts["web-1"]
    assert pulling.pulls
    assert pulling.exporter == "10.0.0.7:4243"
    assert fleet_of(deploy="comin", exporter="[fd00::7]:9100").hosts["web-1"].exporter


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"deploy": "ssh"}, "deploy"),
        ({"exporter": "10.0.0.7:4243"}, 'set "deploy": "comin" too'),
        ({"deploy": "comin", "exporter": "10.0.0.7"}, "is not ADDRESS:PORT"),
        ({"deploy": "comin", "exporter": "10.0.0.7:70000"}, "is not ADDRESS:PORT"),
        ({"deploy": "comin", "exporter": "http://10.0.0.7:4243/"}, "is not ADDRESS:PORT"),
    ],
)
def test_a_bad_deploy_or_exporter_names_the_field(fields: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        fleet_of(**fields)


def test_an_inventory_stored_before_pull_hosts_still_reads() -> None:
    stored = fleet_of().model_dump_json(by_alias=True, exclude={"hosts": {"web-1": {"deploy"}}})
    assert Inventory.model_validate_json(stored).hosts["web-1"].deploy == "push"
