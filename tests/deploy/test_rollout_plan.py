"""A rollout's plan: wave sizes from counts and percentages, filters, hosts spread, durations."""

from __future__ import annotations

import json

import pytest

from gitops_bot.contract.tenant import Tenant
from gitops_bot.deploy.rollout_plan import (
    PlanError,
    WaveTarget,
    parse_duration,
    parse_waves,
    select,
    waves_of,
)
from gitops_bot.store.rollouts import PlannedTenant, restarts


def tenant(slug: str, host: str = "web-1", plan: str = "pro", **fields: object) -> Tenant:
    return Tenant.model_validate_json(
        json.dumps(
            {
                "$schema": "./tenant.schema.json",
                "schemaVersion": 1,
                "slug": slug,
                "plan": plan,
                "host": host,
                "state": "active",
                "domains": [],
                "createdAt": "2026-11-24T12:00:00Z",
                "origin": f"evt_{slug}",
                "uid": 0x70000000 + ord(slug[0]),
                **fields,
            }
        )
    )


def planned(*slugs: str) -> list[PlannedTenant]:
    return [PlannedTenant(slug, "web-1", "pro", None) for slug in slugs]


def test_counts_and_percentages_are_cumulative_and_empty_waves_vanish() -> None:
    ten = planned(*(f"t{n:02}" for n in range(10)))
    sizes = [len(w) for w in waves_of(ten, parse_waves("1,10%,50%,100%"))]
    assert sizes == [1, 4, 5]  # 10% of 10 is 1, reached already
    assert [len(w) for w in waves_of(ten, parse_waves("2,5"))] == [2, 3]  # the rest stay
    assert [len(w) for w in waves_of(planned("a1a"), parse_waves("1%,100%"))] == [1]


def test_bad_wave_specs_are_refused_naming_the_part() -> None:
    for spec, problem in (
        ("0", "'0' is not a positive count"),
        ("1,x", "'x' is not a positive count"),
        ("101%", "more than 100%"),
        ("1.5", "a count is a whole number"),
    ):
        with pytest.raises(PlanError, match=problem):
            parse_waves(spec)
    assert parse_waves("12.5%") == [WaveTarget(12.5, percent=True)]


def test_durations() -> None:
    assert [parse_duration(d) for d in ("90", "30s", "10m", "1h", "0")] == [90, 30, 600, 3600, 0]
    with pytest.raises(PlanError, match="--soak"):
        parse_duration("10 minutes")


def test_select_filters_skips_the_suspended_and_those_on_the_release_and_spreads_hosts() -> None:
    fleet = [
        tenant("aaa", "web-1"),
        tenant("bbb", "web-1"),
        tenant("ccc", "web-2"),
        tenant("ddd", "web-2", plan="free"),
        tenant("eee", "web-2", state="suspended"),
        tenant("fff", "web-1", release="2026.12"),
    ]
    assert [t.slug for t in select(fleet, release="2026.12")] == ["aaa", "ccc", "bbb", "ddd"]
    assert [t.slug for t in select(fleet, release="2026.12", hosts=["web-2"])] == ["ccc", "ddd"]
    assert [t.slug for t in select(fleet, release="2026.12", plans=["free"])] == ["ddd"]
    assert [t.slug for t in select(fleet, release="2026.12", slugs=["bbb"])] == ["bbb"]
    # The release it leaves is kept: an abort goes back to it.
    assert select(fleet, release="2027.01", slugs=["fff"])[0].previous_release == "2026.12"


def test_restarts_name_each_tenants_app_unit_per_host() -> None:
    tenants = [*planned("bbb", "aaa"), PlannedTenant("ccc", "web-2", "pro", None)]
    assert restarts(tenants) == {
        "web-1": ["tenant-app@aaa.service", "tenant-app@bbb.service"],
        "web-2": ["tenant-app@ccc.service"],
    }
