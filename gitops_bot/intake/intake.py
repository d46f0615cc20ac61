"""Deciding on an event at intake: replay, slug, host, and a durable record before the 202."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from gitops_bot.config import Settings
from gitops_bot.contract.inventory import Inventory
from gitops_bot.contract.tenant import RESERVED_SLUGS, SCHEMA_VERSION, Tenant, slug_problem, utc_now
from gitops_bot.intake.events import (
    DeleteEvent,
    Event,
    LifecycleEvent,
    ResumeEvent,
    SignupData,
    SignupEvent,
    SuspendEvent,
    derive_slug,
)
from gitops_bot.store import domainchecks
from gitops_bot.store.queue import Answer, Operation, Store
from gitops_bot.store.reservations import UidsExhausted

# How far a derived slug may be numbered ("acme-2", ..., "acme-99") before we give up.
_MAX_SUFFIX: Final = 99
_CONFLICT: Final = 409


def error(status: int, message: str, *, field: str | None = None) -> Answer:
    body: dict[str, object] = {"error": message}
    if field is not None:
        body["field"] = field
    return Answer(status, body)


@dataclass(frozen=True)
class Intake:
    """Turns a verified, validated event into an Answer, recording it in the same transaction."""

    store: Store
    settings: Settings
    status_url: Callable[[str], str]

    def accept(self, *, event_id: str, body_sha256: str, event: Event) -> Answer:
        """Decide on any event: a signup, or a change to an existing tenant.

        Everything runs under the queue's write lock, so two web workers can never both
        hand out the same slug, domain, or last seat on a host.
        """
        with self.store.transaction():
            if (previous := self.store.answer_for(event_id)) is not None:
                return previous
            inventory = self._inventory_if_open()
            if isinstance(inventory, Answer):
                return inventory
            if isinstance(event, SignupEvent):
                return self._accept_signup(event_id, body_sha256, event, inventory)
            return self._accept_change(event_id, body_sha256, event, inventory)

    def _accept_signup(
        self, event_id: str, body_sha256: str, event: SignupEvent, inventory: Inventory
    ) -> Answer:
        decision = self._refusal(event.data, inventory) or self._slug(event.data)
        if isinstance(decision, Answer):
            return self._refuse(event_id, body_sha256, event.type, decision)
        host = inventory.place(self.store.tenants_per_host())
        if host is None:
            return error(503, "every host is at capacity; retry later")
        try:
            uid = self.store.allocate_uid()
        except UidsExhausted as exhausted:
            return error(503, f"{exhausted}; the operator must widen the range")
        answer = self._queue_signup(
            event_id,
            body_sha256,
            event,
            slug=decision,
            host=host,
            uid=uid,
            release=inventory.default_release,
        )
        if event.data.domain is not None:
            self._track_domains(decision, [event.data.domain], inventory)
        return answer

    def _inventory_if_open(self) -> Inventory | Answer:
        """The inventory, or a 503 while intake cannot decide or must not queue more."""
        inventory = self.store.inventory()
        if inventory is None:
            return error(503, "the bot has not read the state repo yet; retry shortly")
        if self.store.pending_count() >= self.settings.max_queue:
            return error(503, "the queue is full; retry later")
        return inventory

    def _refuse(self, event_id: str, body_sha256: str, event_type: str, answer: Answer) -> Answer:
        if answer.status == _CONFLICT:
            # A conflict is a decision about this event id: a redelivery hears it again.
            self.store.record_event(
                event_id=event_id,
                event_type=event_type,
                body_sha256=body_sha256,
                answer=answer,
                status="rejected",
            )
        return answer

    def _refusal(self, data: SignupData, inventory: Inventory) -> Answer | None:
        return self._plan_refusal(data.plan, inventory) or self._domain_refusal(
            [] if data.domain is None else [data.domain], inventory, field="data.domain"
        )

    @staticmethod
    def _plan_refusal(plan: str | None, inventory: Inventory) -> Answer | None:
        if plan is not None and plan not in inventory.plans:
            known = ", ".join(sorted(inventory.plans))
            return error(422, f"unknown plan '{plan}' (one of: {known})", field="data.plan")
        return None

    def _domain_refusal(
        self, domains: list[str], inventory: Inventory, *, field: str, owner: str | None = None
    ) -> Answer | None:
        for domain in domains:
            if (why := inventory.why_ours(domain)) is not None:
                return error(422, f"custom domain '{domain}' {why}", field=field)
            if self.store.domain_owner(domain) not in {None, owner}:
                return error(_CONFLICT, f"domain '{domain}' is taken", field=field)
        return None

    def _slug(self, data: SignupData) -> str | Answer:
        """The requested slug if free, else a free one derived from the organization."""
        if data.slug is not None:
            if data.slug in RESERVED_SLUGS:
                return error(_CONFLICT, f"slug '{data.slug}' is reserved", field="data.slug")
            if self.store.slug_taken(data.slug):
                return error(_CONFLICT, f"slug '{data.slug}' is taken", field="data.slug")
            return data.slug
        base = derive_slug(data.organization or "")
        if (problem := slug_problem(base, allow_reserved=True)) is not None:
            return error(
                422,
                f"cannot derive a slug from the organization ({problem}); send data.slug",
                field="data.organization",
            )
        for n in range(1, _MAX_SUFFIX + 1):
            candidate = base if n == 1 else f"{base[: 39 - len(str(n))].rstrip('-')}-{n}"
            if slug_problem(candidate) is None and not self.store.slug_taken(candidate):
                return candidate
        message = f"every slug derived from '{base}' is taken; send data.slug"
        return error(_CONFLICT, message, field="data.slug")

    def _queue_signup(
        self,
        event_id: str,
        body_sha256: str,
        event: SignupEvent,
        *,
        slug: str,
        host: str,
        uid: int,
        release: str | None,
    ) -> Answer:
        """Store the event with the exact tenant file it will write, and reserve its names.

        The file names the fleet's default release of this moment, so a later move of the
        default changes no file that exists, and so restarts nobody.
        """
        data = event.data
        domains = () if data.domain is None else (data.domain,)
        tenant = Tenant.model_validate(
            {
                "schemaVersion": SCHEMA_VERSION,
                "slug": slug,
                "plan": data.plan,
                "host": host,
                "state": "active",
                "createdAt": utc_now(),
                "origin": event_id,
                "customerRef": data.customer_ref,
                # Only a domain whose owner proved control gets a vhost and a certificate.
                "pendingDomains": domains,
                "uid": uid,
                "release": release,
            }
        )
        answer = self._record(
            event_id,
            body_sha256,
            event.type,
            slug,
            delivery=self.settings.delivery_for(event.type, data.plan),
            content=tenant.to_json(),
        )
        self.store.reserve(slug=slug, host=host, plan=data.plan, domains=domains)
        self.store.add_transition(slug, "accepted", event_id=event_id)
        return answer

    def _accept_change(
        self, event_id: str, body_sha256: str, event: LifecycleEvent, inventory: Inventory
    ) -> Answer:
        """Queue a change to a tenant the bot knows, as an operation on its file."""
        slug = event.data.slug
        tenant = self.store.tenant(slug)
        delivery = self.settings.delivery_for(event.type, tenant.plan if tenant else "")
        refusal = self._target_refusal(slug, delivery, known=tenant is not None)
        if refusal is not None:
            return refusal
        operation = self._operation(event, inventory, slug)
        if isinstance(operation, Answer):
            return self._refuse(event_id, body_sha256, event.type, operation)
        op, content, domains = operation
        answer = self._record(
            event_id,
            body_sha256,
            event.type,
            slug,
            delivery=delivery,
            op=op,
            content=content,
            reason=event.data.reason,
        )
        self.store.reserve_domains(slug, domains)
        self._track_domains(slug, domains, inventory)
        return answer

    def _track_domains(self, slug: str, domains: list[str], inventory: Inventory) -> None:
        """Start the DNS checks; a domain verified for this tenant already is left alone."""
        for domain in domains:
            domainchecks.track(
                self.store.connection,
                slug=slug,
                domain=domain,
                cname_target=f"{slug}.{inventory.base_domain}",
                now=time.time(),
                first_delay=self.settings.domain_check_first,
            )

    def _record(
        self,
        event_id: str,
        body_sha256: str,
        event_type: str,
        slug: str,
        *,
        delivery: str,
        content: str | None,
        op: Operation = "create",
        reason: str | None = None,
    ) -> Answer:
        """Store an accepted event with its operation; the 202 that a redelivery gets too."""
        answer = Answer(
            202, {"slug": slug, "status": "accepted", "statusUrl": self.status_url(slug)}
        )
        self.store.record_event(
            event_id=event_id,
            event_type=event_type,
            body_sha256=body_sha256,
            answer=answer,
            status="pending",
            slug=slug,
            op=op,
            content=content,
            delivery=delivery,
            reason_given=reason,
        )
        return answer

    def _target_refusal(self, slug: str, delivery: str, *, known: bool) -> Answer | None:
        # Neither answer is recorded: both may change by the time the sender retries.
        if not known:
            return error(404, f"no tenant '{slug}'", field="data.slug")
        if delivery == "direct" and not self.store.on_branch(slug):
            message = f"tenant '{slug}' is still waiting for review; retry once it is merged"
            return error(_CONFLICT, message, field="data.slug")
        return None

    def _operation(
        self, event: LifecycleEvent, inventory: Inventory, slug: str
    ) -> tuple[Operation, str | None, list[str]] | Answer:
        """The operation on the tenant file, its content, and the domains it claims."""
        if isinstance(event, DeleteEvent):
            return "delete", None, []
        if isinstance(event, SuspendEvent | ResumeEvent):
            state = "suspended" if isinstance(event, SuspendEvent) else "active"
            return "update", json.dumps({"state": state}), []
        fields: dict[str, object] = {}
        if (refusal := self._plan_refusal(event.data.plan, inventory)) is not None:
            return refusal
        if event.data.plan is not None:
            fields["plan"] = event.data.plan
        if (release := event.data.release) is not None:
            if (why := inventory.release_problem(release)) is not None:
                return error(422, why, field="data.release")
            fields["release"] = release
        domains = sorted(set(event.data.domains or []))
        if event.data.domains is not None:
            refusal = self._domain_refusal(domains, inventory, field="data.domains", owner=slug)
            if refusal is not None:
                return refusal
            fields["domains"] = domains
        return "update", json.dumps(fields, sort_keys=True), domains
