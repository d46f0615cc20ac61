"""The tenant file contract: naming rules, the model, canonical form and the committed schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from gitops_bot.contract.tenant import (
    SCHEMA_FILE,
    VERIFICATION_PREFIX,
    Tenant,
    canonical_json,
    hostname_problem,
    json_schema,
    slug_problem,
    verification_txt,
)
from helpers import ROOT

VALID = {
    "$schema": "./tenant.schema.json",
    "schemaVersion": 1,
    "slug": "acme-corp",
    "plan": "pro",
    "host": "web-1",
    "state": "active",
    "createdAt": "2026-11-24T12:00:00Z",
    "origin": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    "uid": 0x70000042,
}


@pytest.mark.parametrize("slug", ["abc", "acme-corp", "a1b2", "x" * 40, "0day"])
def test_good_slugs(slug: str) -> None:
    assert slug_problem(slug) is None


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        ("ab", "3 to 40"),
        ("x" * 41, "3 to 40"),
        ("-acme", "lowercase"),
        ("acme-", "lowercase"),
        ("Acme", "lowercase"),
        ("ac_me", "lowercase"),
        ("a.cme", "lowercase"),
        ("xn--bcher-kva", "punycode"),
        ("ab--cd", "punycode"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("acme;rm", "lowercase"),
        ("../etc", "lowercase"),
        ("acme\n", "lowercase"),
        ("аcme", "lowercase"),  # Cyrillic а
    ],
)
def test_bad_slugs(slug: str, reason: str) -> None:
    problem = slug_problem(slug)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("domain", ["shop.acme.example", "a.io", "x-y.z.example"])
def test_good_hostnames(domain: str) -> None:
    assert hostname_problem(domain) is None


@pytest.mark.parametrize(
    "domain",
    [
        "localhost",
        "shop..acme.example",
        "-a.example",
        "a.example.",
        "xn--80ak6aa92e.com",
        "a.123",
        "A.example",
        "a b.example",
        "a.example/x",
        "a" * 64 + ".example",
    ],
)
def test_bad_hostnames(domain: str) -> None:
    assert hostname_problem(domain) is not None


def test_valid_tenant_round_trips_in_canonical_form() -> None:
    tenant = Tenant.model_validate_json(json.dumps(VALID))
    text = tenant.to_json()
    assert text.endswith("}\n")
    assert text == canonical_json(json.loads(text))
    assert Tenant.model_validate_json(text) == tenant
    assert list(json.loads(text)) == sorted(json.loads(text))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "ceo@acme.example"}, "email"),
        ({"password": "hunter2"}, "password"),
        ({"createdAt": "2026-11-24T12:00:00+01:00"}, "createdAt"),
        ({"createdAt": "2026-11-24T12:00:00"}, "createdAt"),
        ({"schemaVersion": True}, "schemaVersion"),
        ({"uid": True}, "uid"),
        ({"uid": 1000}, "uid"),
        ({"uid": 0x71000000}, "uid"),
        ({"uid": "1879048192"}, "uid"),
        ({"schemaVersion": 2}, "schemaVersion"),
        ({"state": "deleted"}, "state"),
        ({"customerRef": "ceo@acme.example"}, "customerRef"),
        ({"domains": ["b.example", "a.example"]}, "domains"),
        ({"domains": ["a.example", "a.example"]}, "domains"),
        ({"origin": "msg 1; rm -rf /"}, "origin"),
        ({"$schema": "https://evil.example/schema.json"}, "$schema"),
    ],
)
def test_invalid_tenants_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Tenant.model_validate_json(json.dumps({**VALID, **change}))
    assert raised.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    "extra",
    [{}, {"customerRef": "cus_1"}, {"domains": ["a.example", "b.example"]}, {"state": "suspended"}],
)
def test_fast_rendering_is_the_canonical_form(extra: dict[str, object]) -> None:
    # to_json leans on the field order of the model; this is what keeps that honest.
    text = Tenant.model_validate_json(json.dumps({**VALID, **extra})).to_json()
    assert text == canonical_json(json.loads(text))


def test_tenant_is_immutable() -> None:
    tenant = Tenant.model_validate_json(json.dumps(VALID))
    with pytest.raises(ValidationError):
        tenant.plan = "free"  # type: ignore[misc]


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads((ROOT / "tenants" / SCHEMA_FILE).read_text())
    assert committed == json_schema(), "run `gitops-bot schema --write .` and commit the result"


def test_example_tenants_name_the_schema_and_are_canonical() -> None:
    for path in (ROOT / "tenants").glob("*.json"):
        if path.name == SCHEMA_FILE:
            continue
        text = path.read_text()
        assert json.loads(text)["$schema"] == "./tenant.schema.json"
        assert Tenant.model_validate_json(text).to_json() == text


@pytest.mark.parametrize(
    "change",
    [
        {"pendingDomains": ["b.example", "a.example"]},
        {"pendingDomains": ["Shop.Example.org"]},
        {"pendingDomains": "a.example"},
    ],
)
def test_bad_pending_domains_name_the_field(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        Tenant.model_validate_json(json.dumps({**VALID, **change}))
    assert raised.value.errors()[0]["loc"][0] == "pendingDomains"


def test_pending_domains_are_written_only_when_some_wait() -> None:
    # Files from before the field stay valid and canonical: absent means none pending.
    assert "pendingDomains" not in Tenant.model_validate_json(json.dumps(VALID)).to_json()
    empty = Tenant.model_validate_json(json.dumps({**VALID, "pendingDomains": []}))
    assert empty.pending_domains is None
    assert "pendingDomains" not in empty.to_json()
    waiting = Tenant.model_validate_json(
        json.dumps({**VALID, "domains": ["b.example"], "pendingDomains": ["a.example"]})
    )
    text = waiting.to_json()
    assert text == canonical_json(json.loads(text))
    assert json.loads(text)["pendingDomains"] == ["a.example"]
    assert waiting.claimed_domains == ("a.example", "b.example")


def test_the_verification_record_is_public_and_derived_from_the_slug() -> None:
    assert VERIFICATION_PREFIX == "_gitops-bot."
    assert verification_txt("acme") == "gitops-bot-verification=acme"
