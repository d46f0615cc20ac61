"""The domain verifier against a real DNS server on 127.0.0.1; the writer commits its proofs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.resolver
import pytest
from fakes.dnsserver import Zone, fake_dns
from flask.testing import FlaskClient
from nix_helpers import NIX_INSTANTIATE, nix_eval, plans_expr

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.store import domainchecks
from gitops_bot.store.queue import Store
from gitops_bot.writer.verifier import Backoff, DnsProof, Verifier, run_verifier
from gitops_bot.writer.writer import Writer
from helpers import change, git, post_event, signup, tenant_files

SLUG = "acme-corp"
DOMAIN = "shop.acme-corp.example"
TXT = f"_gitops-bot.{DOMAIN}"
BACKOFF = Backoff(first=30, longest=3600, give_up=7 * 86400)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dns_server() -> Iterator[tuple[Zone, str]]:
    with fake_dns() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(store: Store, dns_server: tuple[Zone, str], clock: Clock) -> Verifier:
    return Verifier(store, DnsProof(dns_server[1], timeout=0.3), BACKOFF, clock=clock)


def _signed_up(client: FlaskClient, writer: Writer, state_repo: Path) -> dict[str, object]:
    assert post_event(client, signup(SLUG, domain=DOMAIN)).status_code == 202
    writer.drain_once()
    return tenant_files(state_repo)[SLUG]


def _custom_domains(state_repo: Path, tmp_path: Path) -> list[str]:
    """What nix/ makes of the committed file: the domains that get a vhost and a certificate."""
    folder = tmp_path / "evaluated"
    folder.mkdir(exist_ok=True)
    (folder / f"{SLUG}.json").write_text(git(state_repo, "show", f"main:tenants/{SLUG}.json"))
    host = str(tenant_files(state_repo)[SLUG]["host"])
    result: list[str] = nix_eval(plans_expr(folder, host))[SLUG]["route"]["customDomains"]
    return result


def _check(store: Store, domain: str = DOMAIN) -> domainchecks.DomainCheck:
    (found,) = [c for c in domainchecks.for_slug(store.connection, SLUG) if c.domain == domain]
    return found


@pytest.mark.skipif(NIX_INSTANTIATE is None, reason="needs nix-instantiate")
def test_a_txt_record_proves_the_domain_and_the_writer_commits_it_verified(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
    tmp_path: Path,
) -> None:
    file = _signed_up(client, writer, state_repo)
    assert file["domains"] == []
    assert file["pendingDomains"] == [DOMAIN]
    assert _custom_domains(state_repo, tmp_path) == []
    # Nothing is asked before the first delay: the customer needs time to make the record.
    assert verifier.run_once() == 0

    zone, _ = dns_server
    zone.set(TXT, "TXT", f'"gitops-bot-verification={SLUG}"')
    clock.now += 31
    assert verifier.run_once() == 1
    assert _check(store).state == "verified"
    writer.drain_once()
    file = tenant_files(state_repo)[SLUG]
    assert file["domains"] == [DOMAIN]
    assert "pendingDomains" not in file
    assert _custom_domains(state_repo, tmp_path) == [DOMAIN]
    message = git(state_repo, "log", "-1", "--format=%B", "main")
    assert message.startswith("Verify domains of 1 tenant: acme-corp")
    assert "Gitops-Event: dv_" in message


def test_a_cname_to_the_tenants_subdomain_proves_it_too(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
) -> None:
    _signed_up(client, writer, state_repo)
    dns_server[0].set(DOMAIN, "CNAME", f"{SLUG}.tenants.example.com.")
    clock.now += 31
    verifier.run_once()
    writer.drain_once()
    assert tenant_files(state_repo)[SLUG]["domains"] == [DOMAIN]


def test_a_wrong_txt_value_or_cname_does_not_verify(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
) -> None:
    _signed_up(client, writer, state_repo)
    zone, _ = dns_server
    zone.set(TXT, "TXT", '"gitops-bot-verification=someone-else"')
    zone.set(DOMAIN, "CNAME", "someone-else.tenants.example.com.")
    clock.now += 31
    assert verifier.run_once() == 1
    check = _check(store)
    assert check.state == "pending"
    assert check.attempts == 1
    assert "someone-else" in (check.last_error or "")
    assert store.pending_count() == 0
    assert tenant_files(state_repo)[SLUG]["pendingDomains"] == [DOMAIN]


def test_nxdomain_and_silence_back_off_doubling_and_give_up_after_the_limit(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
) -> None:
    _signed_up(client, writer, state_repo)
    requested = _check(store).requested_at
    waits, errors = [], []
    for attempt in range(8):
        if attempt == 3:
            # A resolver that never answers is a timeout, counted like any failed look.
            dns_server[0].silent.update({TXT, DOMAIN})
        clock.now = _check(store).next_at
        before = clock.now
        assert verifier.run_once() == 1
        waits.append(_check(store).next_at - before)
        errors.append(_check(store).last_error or "")
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert "does not exist (NXDOMAIN)" in errors[0]
    assert "in time" in errors[3]
    clock.now = requested + BACKOFF.give_up
    verifier.run_once()
    expired = _check(store)
    assert expired.state == "expired"
    assert "in time" in (expired.last_error or "")
    clock.now += 86400
    assert verifier.run_once() == 0
    # Expired, the domain stays pending in the file: its name is still held for the tenant.
    assert tenant_files(state_repo)[SLUG]["pendingDomains"] == [DOMAIN]


def test_an_update_keeps_verified_domains_and_makes_new_ones_pending(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
) -> None:
    _signed_up(client, writer, state_repo)
    dns_server[0].set(TXT, "TXT", f'"gitops-bot-verification={SLUG}"')
    clock.now += 31
    verifier.run_once()
    writer.drain_once()
    added = "www.acme-corp.example"
    update = change("tenant.update", SLUG, domains=[DOMAIN, added])
    assert post_event(client, update).status_code == 202
    writer.drain_once()
    file = tenant_files(state_repo)[SLUG]
    assert file["domains"] == [DOMAIN]
    assert file["pendingDomains"] == [added]
    assert _check(store, added).state == "pending"


def test_a_pending_domain_committed_by_hand_is_checked_too(
    writer: Writer,
    store: Store,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    # A reviewer's own commit, or a branch read after the database was lost.
    writer.drain_once()
    other = clone("reviewer.git")
    head = other.snapshot("main")
    assert head is not None
    data = json.loads(other.read_blobs([head.files["tenants/acme.json"]]).popitem()[1])
    data["pendingDomains"] = ["shop.acme.example"]
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    commit = other.commit([head.sha], {"tenants/acme.json": text.encode()}, "By hand\n")
    assert other.advance("main", commit)
    writer.head()
    (check,) = domainchecks.for_slug(store.connection, "acme")
    assert (check.domain, check.state) == ("shop.acme.example", "pending")
    assert check.record()["cnameTarget"] == "acme.tenants.example.com"


def test_a_domain_removed_and_asked_for_again_must_be_proven_again(
    client: FlaskClient,
    writer: Writer,
    store: Store,
    state_repo: Path,
    verifier: Verifier,
    dns_server: tuple[Zone, str],
    clock: Clock,
) -> None:
    _signed_up(client, writer, state_repo)
    dns_server[0].set(TXT, "TXT", f'"gitops-bot-verification={SLUG}"')
    clock.now += 31
    verifier.run_once()
    writer.drain_once()
    for domains in ([], [DOMAIN]):
        post_event(client, change("tenant.update", SLUG, domains=domains))
        writer.drain_once()
    assert tenant_files(state_repo)[SLUG]["pendingDomains"] == [DOMAIN]
    assert _check(store).state == "pending"
    clock.now = _check(store).next_at
    verifier.run_once()
    writer.drain_once()
    assert tenant_files(state_repo)[SLUG]["domains"] == [DOMAIN]


def test_without_a_resolver_the_verifier_says_so_and_stops(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_configuration(self: dns.resolver.Resolver, *_args: object) -> None:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    # The one stand-in: a machine without /etc/resolv.conf cannot be made in a test.
    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", no_configuration)
    stop = threading.Event()
    run_verifier(settings, stop)  # returns at once instead of killing its thread
    assert "set GITOPS_BOT_DNS_RESOLVER" in caplog.text
