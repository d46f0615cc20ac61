"""Suite 5, hostile input: property tests of the event models, the tenant file loader and the
checker, and a corpus of hostile slugs and domains sent in every event type.

What is accepted must be inert wherever it ends up (a file name, a Nix string, an nginx
server name, a commit trailer); what is refused is a 4xx naming the field, with nothing
queued and nothing committed. schemathesis has its own module.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jsonschema_rs
import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from nix_helpers import uid_of

from gitops_bot.contract.checker import check_file, check_files
from gitops_bot.contract.tenant import (
    Tenant,
    hostname_problem,
    printable_problem,
    slug_problem,
    tenant_path,
)
from gitops_bot.intake.events import EVENT_MODELS, Event, SignupEvent, derive_slug
from gitops_bot.intake.webhooks import Refused, parse_event
from gitops_bot.operator.openapi import document
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import change, git, post_event, signup
from hostile import HOSTILE_DOMAINS, HOSTILE_SLUGS, INJECTIONS, RESERVED
from hygiene import assert_history_clean
from reliability import record_figures, soak_scale

# What an accepted value may look like once it reaches a file name, Nix or nginx.
INERT_SLUG: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]")
INERT_HOST: Final = re.compile(r"[a-z0-9.-]{3,253}")
INERT_ID: Final = re.compile(r"[A-Za-z0-9_.:=-]{1,128}")
INERT_REASON: Final = re.compile(r"[^\x00-\x1f\x7f]{1,200}")

# --- strategies -------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True).filter(
    lambda value: value[2:4] != "--"
)
slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]", fullmatch=True).filter(
    lambda value: slug_problem(value) is None
)
hostnames = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(label, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
texts = (
    st.text(max_size=60)
    | st.sampled_from(INJECTIONS)
    | slugs
    | hostnames
    | st.sampled_from(["pro", "free", "enterprise", "cus_42", "jane@acme.example", "WWW"])
)
field_values = texts | st.none() | st.integers() | st.lists(texts, max_size=3)
DATA_FIELDS: Final = (
    "slug", "plan", "organization", "domain", "customerRef", "reason", "domains", "host",
    "state", "origin", "createdAt", "newSlug", "email", "customer_ref", "new_slug", "created_at",
)  # fmt: skip
TIMESTAMPS: Final = st.sampled_from(
    ["2026-11-24T12:00:00Z", "2026-11-24T12:00:00.5+02:00", "2026-11-24T12:00:00-00:30"]
) | st.sampled_from(
    ["yesterday", "", 0, 1_700_000_000, "1700000000", "2026-11-24", "2026-11-24T12:00:00", None]
)
VALID_DATA: Final = {
    "tenant.signup": st.fixed_dictionaries(
        {"slug": slugs, "plan": st.sampled_from(["free", "pro"])},
        optional={"domain": hostnames, "customerRef": st.just("cus_1")},
    ),
    "tenant.update": st.fixed_dictionaries(
        {"slug": slugs}, optional={"plan": st.just("pro"), "domains": st.lists(hostnames)}
    ),
    **{
        kind: st.fixed_dictionaries({"slug": slugs}, optional={"reason": st.text(max_size=30)})
        for kind in ("tenant.suspend", "tenant.resume", "tenant.delete")
    },
}
# A valid event of each type with a few fields overwritten by plausible, hostile or random
# values, so that both sides of every validator are explored.
events = st.sampled_from(sorted(EVENT_MODELS)).flatmap(
    lambda kind: st.fixed_dictionaries(
        {
            "type": st.just(kind),
            "timestamp": TIMESTAMPS,
            "data": st.builds(
                lambda valid, changed: {**valid, **changed},
                VALID_DATA[kind],
                st.dictionaries(st.sampled_from(DATA_FIELDS), field_values, max_size=2),
            ),
        }
    )
)


HOSTS: Final = st.sampled_from(["web-1", "web-2"])
PLANS: Final = st.sampled_from(["free", "pro", "enterprise"])
DOMAIN_LISTS: Final = st.lists(hostnames, max_size=3, unique=True)
# Naive bounds: hypothesis applies the time zone to them.
MOMENTS: Final = st.datetimes(
    datetime(2000, 1, 1),  # noqa: DTZ001
    datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda moment: moment.replace(microsecond=0))
OPAQUE: Final = st.from_regex(r"[A-Za-z0-9_.:=-]{1,30}", fullmatch=True)


def tenants(
    slug: st.SearchStrategy[str] = slugs,
    host: st.SearchStrategy[str] = HOSTS,
    plan: st.SearchStrategy[str] = PLANS,
    domains: st.SearchStrategy[list[str]] = DOMAIN_LISTS,
) -> st.SearchStrategy[Tenant]:
    """Valid tenants, with the given strategies for the fields the checker relates."""
    return st.builds(
        lambda slug, host, plan, domains, created, origin, ref, state: Tenant.model_validate(
            {
                "schemaVersion": 1,
                "slug": slug,
                "plan": plan,
                "host": host,
                "state": state,
                "createdAt": created,
                "origin": origin,
                "customerRef": ref,
                "domains": tuple(sorted(domains)),
                # Fixed per slug, so the fleets drawn here never share a uid by chance.
                "uid": uid_of(slug),
            }
        ),
        slug,
        host,
        plan,
        domains,
        MOMENTS,
        OPAQUE,
        st.none() | OPAQUE,
        st.sampled_from(["active", "suspended"]),
    )


# --- the event models -------------------------------------------------------------------


def assert_inert(event: Event) -> None:
    """Every string an accepted event carries is safe in a file name, Nix, nginx and git."""
    data = event.data
    assert INERT_SLUG.fullmatch(data.slug or "abc"), data.slug
    if isinstance(event, SignupEvent):
        signup_data = event.data
        if signup_data.domain is not None:
            assert INERT_HOST.fullmatch(signup_data.domain)
            assert hostname_problem(signup_data.domain) is None
        if signup_data.customer_ref is not None:
            assert INERT_ID.fullmatch(signup_data.customer_ref)
        if signup_data.organization is not None:
            assert printable_problem(signup_data.organization) is None
            assert not re.search(r"@\S+\.", signup_data.organization)
        if signup_data.slug is None:
            derived = derive_slug(signup_data.organization or "")
            assert re.fullmatch(r"[a-z0-9-]*", derived)
        return
    if event.data.reason is not None:
        assert INERT_REASON.fullmatch(event.data.reason)
        assert printable_problem(event.data.reason) is None
        assert "@" not in event.data.reason or not re.search(r"@\S+\.", event.data.reason)
    for domain in getattr(event.data, "domains", None) or []:
        assert hostname_problem(domain) is None


def parse_or_refuse(body: bytes) -> Event | Refused:
    try:
        return parse_event(body)
    except Refused as refused:
        return refused


@given(events)
@settings(max_examples=300 * soak_scale())
def test_any_event_is_parsed_inert_or_refused_naming_a_field(payload: dict[str, Any]) -> None:
    outcome = parse_or_refuse(json.dumps(payload).encode())
    event("accepted" if not isinstance(outcome, Refused) else "refused")
    if isinstance(outcome, Refused):
        assert outcome.answer.status == 422
        assert outcome.answer.body["field"].startswith(("data", "timestamp")), outcome.answer.body
    else:
        assert_inert(outcome)


def document_validator() -> jsonschema_rs.Validator:
    """The OpenAPI document's schema of POST /v1/events bodies, as a client would use it."""
    served = document()
    body = served["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator({**body["schema"], **served}, validate_formats=True)


DOCUMENT: Final = document_validator()


@given(events)
@settings(max_examples=300 * soak_scale())
def test_the_openapi_document_allows_exactly_what_the_event_models_accept(
    payload: dict[str, Any],
) -> None:
    # Intake's other refusals (a taken slug, an unknown plan) depend on state, not shape.
    accepted = not isinstance(parse_or_refuse(json.dumps(payload).encode()), Refused)
    event(f"accepted={accepted}")
    assert DOCUMENT.is_valid(payload) == accepted, [
        e.message for e in DOCUMENT.iter_errors(payload)
    ]


@given(json_values)
def test_any_json_is_parsed_or_refused(payload: Any) -> None:
    outcome = parse_or_refuse(json.dumps(payload).encode())
    if isinstance(outcome, Refused):
        assert outcome.answer.status in {400, 422}
        assert outcome.answer.body["field"]


@given(st.binary(max_size=300))
def test_any_bytes_are_parsed_or_refused(body: bytes) -> None:
    outcome = parse_or_refuse(body)
    assert isinstance(outcome, Refused) or outcome.type in EVENT_MODELS


@given(st.text(max_size=300))
def test_a_derived_slug_is_inert_whatever_the_organization(organization: str) -> None:
    derived = derive_slug(organization)
    assert re.fullmatch(r"(?:[a-z0-9]+(?:-[a-z0-9]+)*)?", derived)
    assert len(derived) <= 40


# --- the tenant file loader -------------------------------------------------------------


@given(tenants())
def test_a_valid_tenant_file_loads_back_identical(tenant: Tenant) -> None:
    result = check_file(tenant.path(), tenant.to_json().encode())
    assert result.problems == ()
    assert result.tenant == tenant


@given(st.binary(max_size=500) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_file_content_is_loaded_or_refused_never_raises(content: bytes) -> None:
    result = check_file("tenants/acme.json", content)
    if not result.problems:
        assert result.tenant is not None
        assert result.tenant.to_json().encode() == content


@given(tenants(), st.data())
def test_a_mutated_tenant_file_is_either_canonical_or_refused(tenant: Tenant, data: Any) -> None:
    text = tenant.to_json()
    at = data.draw(st.integers(0, len(text) - 1), label="at")
    mutation = data.draw(
        st.sampled_from(["delete", "insert", "replace"]) | st.just("swap-name"), label="how"
    )
    if mutation == "swap-name":
        path = tenant_path(data.draw(slugs, label="file name"))
    else:
        path = tenant.path()
        char = data.draw(st.characters(codec="utf-8") | st.sampled_from('{}",:\n '), label="char")
        text = {
            "delete": text[:at] + text[at + 1 :],
            "insert": text[:at] + char + text[at:],
            "replace": text[:at] + char + text[at + 1 :],
        }[mutation]
    result = check_file(path, text.encode())
    event("accepted" if not result.problems else "refused")
    if not result.problems:
        assert result.tenant is not None
        assert result.tenant.to_json() == text
        assert result.tenant.path() == path


# --- the checker ------------------------------------------------------------------------

INVENTORY: Final = {
    "baseDomain": "tenants.example.com",
    "hosts": {"web-1": {"address": "w1", "capacity": 3}, "web-2": {"address": "w2", "capacity": 2}},
    "plans": {p: {"memoryMax": "1G", "cpuQuota": "100%"} for p in ("free", "pro")},
}
POOL: Final = ["shop.example", "a.tenants.example.com", "b.example", "c.example"]


@given(
    st.lists(
        # Mostly known hosts and plans, so that valid fleets are common enough too.
        tenants(
            host=st.sampled_from(["web-1", "web-2"] * 4 + ["web-9"]),
            plan=st.sampled_from(["free", "pro"] * 4 + ["gold"]),
            domains=st.lists(st.sampled_from(POOL), max_size=1),
        ),
        max_size=6,
        unique_by=lambda tenant: tenant.slug,
    )
)
def test_the_checker_agrees_with_an_independent_oracle(fleet: list[Tenant]) -> None:
    files = {tenant.path(): tenant.to_json().encode() for tenant in fleet}
    files["nix/inventory.json"] = json.dumps(INVENTORY).encode()
    report = check_files(files)
    event(f"ok={report.ok}")
    seats = Counter(tenant.host for tenant in fleet)
    owners = Counter(domain for tenant in fleet for domain in tenant.domains)
    expected_ok = (
        all(tenant.plan in INVENTORY["plans"] for tenant in fleet)
        and all(tenant.host in INVENTORY["hosts"] for tenant in fleet)
        and all(seats[h] <= host["capacity"] for h, host in INVENTORY["hosts"].items())
        and all(count == 1 for count in owners.values())
        and not any(domain.endswith(".tenants.example.com") for domain in owners)
    )
    assert report.ok == expected_ok, report.problems
    assert len(report.tenants) == len(fleet)


@given(st.dictionaries(st.sampled_from(["tenants/a-b.json", "tenants/xyz.json"]), st.binary()))
def test_the_checker_never_raises_on_garbage_files(files: dict[str, bytes]) -> None:
    files["nix/inventory.json"] = json.dumps(INVENTORY).encode()
    report = check_files(files)
    assert report.ok == (not files.keys() - {"nix/inventory.json"})


# --- over HTTP --------------------------------------------------------------------------


@given(slug=texts)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_requested_slug_is_accepted_inert_or_refused_naming_the_field(
    client: FlaskClient, store: Store, slug: str
) -> None:
    before = store.pending_count()
    answer = post_event(client, signup(slug))
    event(str(answer.status_code))
    assert answer.status_code in {202, 409, 422}, answer.json
    if answer.status_code == 202:
        assert INERT_SLUG.fullmatch(answer.json["slug"])
        assert store.pending_count() == before + 1
    else:
        assert answer.json["field"] == "data.slug"
        assert store.pending_count() == before


Case = tuple[str, dict[str, Any], tuple[int, ...], str]


def hostile_requests() -> list[Case]:
    """(what, payload, allowed statuses, field) for every hostile value in every place."""
    lifecycle = ("tenant.suspend", "tenant.resume", "tenant.delete")
    cases: list[Case] = []
    for slug in HOSTILE_SLUGS:
        cases.append((f"signup slug {slug!r}", signup(slug), (422,), "data.slug"))
        cases.extend(
            (f"{kind} {slug!r}", change(kind, slug), (422,), "data.slug") for kind in lifecycle
        )
        update = change("tenant.update", slug, plan="pro")
        cases.append((f"update slug {slug!r}", update, (422,), "data.slug"))
    for slug in RESERVED:  # 409 when well-formed, 422 when also too short ("mx")
        cases.append((f"signup reserved {slug!r}", signup(slug), (409, 422), "data.slug"))
        suspend = change("tenant.suspend", slug)
        cases.append((f"suspend reserved {slug!r}", suspend, (404, 422), "data.slug"))
    for domain in HOSTILE_DOMAINS:
        with_domain = signup("fine-slug", domain=domain)
        cases.append((f"signup domain {domain!r}", with_domain, (422,), "data.domain"))
        update = change("tenant.update", "acme", domains=[domain])
        cases.append((f"update domain {domain!r}", update, (422,), "data.domains"))
    cases.extend(
        (f"customerRef {ref!r}", signup("fine-slug", customerRef=ref), (422,), "data.customerRef")
        for ref in ("jane@acme.example", "a b", "x" * 129, "ref\n", "${x}")
    )
    cases.extend(
        (
            f"reason {reason!r}",
            change("tenant.suspend", "acme", reason=reason),
            (422,),
            "data.reason",
        )
        for reason in ("asked by jane@acme.example", "x\n\nGitops-Event: msg_forged", "\x00", "")
    )
    return cases


def test_hostile_slugs_and_domains_are_refused_naming_the_field_and_nothing_lands(
    client: FlaskClient, writer: Writer, store: Store, state_repo: Path
) -> None:
    commits = git(state_repo, "rev-list", "--all")
    cases = hostile_requests()
    wrong = []
    for what, payload, statuses, field in cases:
        answer = post_event(client, payload)
        named = str((answer.json or {}).get("field", ""))
        if answer.status_code not in statuses or not named.startswith(field):
            wrong.append(f"{what}: {answer.status_code} {answer.json}")
    assert not wrong, "\n".join(wrong)
    assert store.pending_count() == 0
    assert writer.drain_once() == 0
    assert git(state_repo, "rev-list", "--all") == commits
    hygiene = assert_history_clean(state_repo)
    record_figures(
        "hostile-corpus",
        __file__,
        soak=False,
        requests=len(cases),
        hostile_slugs=len(HOSTILE_SLUGS),
        reserved_slugs=len(RESERVED),
        hostile_domains=len(HOSTILE_DOMAINS),
        refused_with_the_field_named=len(cases) - len(wrong),
        queued=0,
        committed=0,
        history_commits_scanned=hygiene.commits,
    )


@pytest.mark.parametrize("slug", ["acme", "Acme", "ACME"])
def test_uppercase_ascii_is_not_hostile_just_lowered(client: FlaskClient, slug: str) -> None:
    # The one normalisation intake does: A-Z to a-z. "acme" is an example tenant: 409.
    answer = post_event(client, signup(slug))
    assert answer.status_code == 409
    assert answer.json["field"] == "data.slug"
