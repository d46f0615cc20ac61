"""The domain verifier: asks DNS whether each pending custom domain's owner made the record."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

from gitops_bot import logs
from gitops_bot.config import Settings
from gitops_bot.contract.tenant import verification_txt
from gitops_bot.store import domainchecks
from gitops_bot.store.domainchecks import DomainCheck
from gitops_bot.store.queue import Answer, Store

log = logging.getLogger(__name__)

EVENT_TYPE: Final = "domain.verified"
# How long the loop sleeps at most when nothing is due, so a new request is seen soon.
_IDLE: Final = 5.0


class Proof(Protocol):
    def problem(self, domain: str, txt_value: str, cname_target: str) -> str | None:
        """Why DNS does not (yet) prove control of `domain`; None when it does."""


class DnsProof:
    """The two records either of which proves control, looked up with dnspython."""

    def __init__(self, nameserver: str | None, timeout: float) -> None:
        self.resolver = dns.resolver.Resolver(configure=nameserver is None)
        if nameserver is not None:
            address, _, port = nameserver.partition("@")
            self.resolver.nameservers = [address]
            self.resolver.port = int(port or 53)
        self.resolver.lifetime = timeout
        self.resolver.timeout = timeout
        # Each check must see the record as DNS has it now, not as it was an hour ago.
        self.resolver.cache = None

    def problem(self, domain: str, txt_value: str, cname_target: str) -> str | None:
        txt = self._lookup(f"_gitops-bot.{domain}", "TXT")
        if not isinstance(txt, str):
            values = {b"".join(r.strings).decode(errors="replace") for r in txt}
            if txt_value in values:
                return None
            txt = f"TXT _gitops-bot.{domain} is {sorted(values)!r}, not {txt_value!r}"
        cname = self._lookup(domain, "CNAME")
        if not isinstance(cname, str):
            targets = {r.target.to_text().rstrip(".").lower() for r in cname}
            if cname_target in targets:
                return None
            cname = f"CNAME {domain} points to {sorted(targets)!r}, not {cname_target!r}"
        return f"{txt}; {cname}"

    def _lookup(self, name: str, kind: str) -> dns.resolver.Answer | str:
        try:
            return self.resolver.resolve(name, kind, raise_on_no_answer=True, search=False)
        except dns.resolver.NXDOMAIN:
            return f"{name} does not exist (NXDOMAIN)"
        except dns.resolver.NoAnswer:
            return f"{name} has no {kind} record"
        except dns.exception.Timeout:
            return f"no answer for {kind} {name} in time"
        except (dns.resolver.NoNameservers, dns.exception.DNSException) as failure:
            return f"{kind} {name}: {type(failure).__name__}"


@dataclass(frozen=True)
class Backoff:
    """When to look again: the wait doubles from `first` up to `longest`, until `give_up`."""

    first: float
    longest: float
    give_up: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Backoff:
        return cls(
            settings.domain_check_first,
            settings.domain_check_max_interval,
            settings.domain_check_give_up,
        )

    def wait(self, attempts: int) -> float:
        return float(min(max(self.first, 1.0) * 2.0 ** min(attempts, 40), self.longest))


class Verifier:
    """Checks due domains; a proven one becomes a queued event that the writer commits."""

    def __init__(
        self,
        store: Store,
        proof: Proof,
        backoff: Backoff,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.proof = proof
        self.backoff = backoff
        self.clock = clock

    def run_once(self) -> int:
        """Check every due domain once; the number of checks made."""
        due = domainchecks.due(self.store.connection, self.clock())
        for check in due:
            with logs.bound(slug=check.slug):
                self._check(check)
        return len(due)

    def _check(self, check: DomainCheck) -> None:
        problem = self.proof.problem(check.domain, verification_txt(check.slug), check.cname_target)
        now = self.clock()
        attempts = check.attempts + 1
        with self.store.transaction():
            if problem is None and self.store.on_branch(check.slug):
                self._queue(check)
                domainchecks.settle(
                    self.store.connection,
                    check.domain,
                    state="verified",
                    attempts=attempts,
                    next_at=now,
                    error=None,
                )
                log.info("domain %s verified", check.domain)
                return
            if problem is None:
                problem = "proven, but the tenant is not on the branch yet"
            expired = now - check.requested_at >= self.backoff.give_up
            domainchecks.settle(
                self.store.connection,
                check.domain,
                state="expired" if expired else "pending",
                attempts=attempts,
                next_at=now + self.backoff.wait(check.attempts),
                error=problem,
            )
        if expired:
            log.warning("gave up verifying %s: %s", check.domain, problem)

    def _queue(self, check: DomainCheck) -> None:
        # Through the queue like any change, so git records it with its Gitops-Event trailer.
        content = json.dumps({"domain": check.domain}, sort_keys=True)
        # Fixed per request, so a crash between the checks cannot queue the move twice.
        key = f"{check.slug} {check.domain} {check.requested_at}".encode()
        self.store.record_event(
            event_id=f"dv_{hashlib.sha256(key).hexdigest()[:32]}",
            event_type=EVENT_TYPE,
            body_sha256=hashlib.sha256(content.encode()).hexdigest(),
            answer=Answer(202, {"slug": check.slug, "status": "accepted"}),
            status="pending",
            slug=check.slug,
            op="verify",
            content=content,
            reason_given=f"DNS proves control of {check.domain}",
        )

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # a broken resolver must not end the worker
                log.exception("domain verification failed")
            upcoming = domainchecks.next_due(self.store.connection)
            wait = _IDLE if upcoming is None else upcoming - self.clock()
            stop.wait(min(max(wait, 0.05), _IDLE))


def run_verifier(settings: Settings, stop: threading.Event) -> None:
    """The verifier's thread: its own connection, since SQLite's are not shared across threads."""
    try:
        proof = DnsProof(settings.dns_resolver, settings.dns_timeout)
    except dns.exception.DNSException:
        # No /etc/resolv.conf: say so once, and leave the writer running; domains stay pending.
        log.exception("no DNS resolver; set GITOPS_BOT_DNS_RESOLVER to verify custom domains")
        return
    with Store(settings.database_path, synchronous=settings.synchronous) as store:
        Verifier(store, proof, Backoff.from_settings(settings)).run(stop)
