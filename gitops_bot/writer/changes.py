"""Applying queued events to a branch's files, under the checker's veto (no I/O here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from gitops_bot.backends.base import Snapshot
from gitops_bot.contract.checker import FileResult, Problem, Report, check_file, check_fleet
from gitops_bot.contract.inventory import Inventory
from gitops_bot.contract.tenant import Tenant, tenant_path
from gitops_bot.store.queue import QueuedEvent
from gitops_bot.store.reservations import RepoTenant


@dataclass(frozen=True)
class Tree:
    """A branch head with every file already checked on its own."""

    snapshot: Snapshot
    inventory: Inventory | None
    # The inventory's problems, and the branch's symlinks: refused whatever the change.
    inventory_problems: tuple[Problem, ...]
    # None: the file is deleted in this tree (a review branch that removes a tenant).
    results: Mapping[str, FileResult | None]

    def check(self, changes: Mapping[str, FileResult | None]) -> Report:
        """The checker's verdict on this tree with `changes` applied (None deletes)."""
        results = {**self.results, **changes}
        report = check_fleet((r for r in results.values() if r is not None), self.inventory)
        report.problems[:0] = self.inventory_problems
        return report

    def repo_tenants(self) -> list[RepoTenant]:
        return [repo_tenant(r.tenant) for r in self.results.values() if r and r.tenant]


def repo_tenant(tenant: Tenant) -> RepoTenant:
    return RepoTenant(
        tenant.slug, tenant.host, tenant.plan, tenant.claimed_domains, tenant.uid, tenant.release
    )


@dataclass
class Applied:
    """What a run of events does to a tree: the new files, and the fate of each event."""

    results: dict[str, FileResult | None] = field(default_factory=dict)
    # Events that change a file.
    kept: list[QueuedEvent] = field(default_factory=list)
    # What the commit carries out, in order: the kept events, and those that change nothing
    # only because an earlier one of this run did it (a second suspend). Those are true
    # from that commit on, not at the head it is built on.
    carried: list[QueuedEvent] = field(default_factory=list)
    failed: list[tuple[QueuedEvent, str]] = field(default_factory=list)
    # Events whose effect is on the branch already (the push won before a crash).
    already: list[QueuedEvent] = field(default_factory=list)

    @property
    def changes(self) -> dict[str, bytes | None]:
        return {
            path: None if result is None else result.text.encode()
            for path, result in self.results.items()
        }

    def landed(self) -> dict[str, RepoTenant | None]:
        """Each touched tenant as it will be on the branch once committed."""
        return {
            path.removeprefix("tenants/").removesuffix(".json"): (
                None if result is None or result.tenant is None else repo_tenant(result.tenant)
            )
            for path, result in self.results.items()
        }


# A last check of the files a run would commit: why each refused path is refused.
Veto = Callable[[Tree, Mapping[str, FileResult | None]], Mapping[str, str]]


def apply_events(
    tree: Tree, events: Sequence[QueuedEvent], *, branch: str, veto: Veto | None = None
) -> Applied:
    """Apply `events` in order; drop those the branch, the checker or `veto` refuses.

    Problems name files; the last event that touched a refused file is the one that
    failed, and the run is redone without it, since later events may have depended on
    it. The veto (the hosts' own evaluation) runs only once the checker is content.
    """
    candidates = list(events)
    failed: list[tuple[QueuedEvent, str]] = []
    while True:
        applied = _apply_in_order(tree, candidates, branch=branch)
        applied.failed[:0] = failed
        report = tree.check(applied.results)
        refused = {p.file: str(p) for p in reversed(report.problems) if p.file in applied.results}
        if not refused and veto is not None:
            refused = {p: r for p, r in veto(tree, applied.results).items() if p in applied.results}
        if not refused:
            return applied
        for path, reason in refused.items():
            culprit = next(e for e in reversed(applied.kept) if tenant_path(e.slug) == path)
            failed.append((culprit, reason))
            candidates.remove(culprit)


def _apply_in_order(tree: Tree, events: Sequence[QueuedEvent], *, branch: str) -> Applied:
    applied = Applied()
    for event in events:
        path = tenant_path(event.slug)
        current = applied.results[path] if path in applied.results else tree.results.get(path)
        outcome = _apply_one(event, current, branch=branch)
        if isinstance(outcome, _Refused):
            applied.failed.append((event, outcome.reason))
        elif isinstance(outcome, _AlreadyThere):
            (applied.carried if path in applied.results else applied.already).append(event)
        else:
            applied.results[path] = outcome
            applied.kept.append(event)
            applied.carried.append(event)
    return applied


@dataclass(frozen=True)
class _Refused:
    reason: str


class _AlreadyThere:
    """The branch already holds exactly what this event creates."""


def _apply_one(  # noqa: PLR0911 - one return per case of the decision table
    event: QueuedEvent, current: FileResult | None, *, branch: str
) -> FileResult | _Refused | _AlreadyThere | None:
    """The file after `event` (None: deleted), or why the event cannot apply."""
    path = tenant_path(event.slug)
    if event.op == "create":
        if current is None:
            return check_file(path, (event.content or "").encode())
        if current.tenant is not None and current.tenant.origin == event.id:
            return _AlreadyThere()
        return _Refused(f"{path} exists on {branch} already")
    if current is None:
        # Deleting what is gone already leaves the branch as the event wanted it.
        return _AlreadyThere() if event.op == "delete" else _Refused(f"{path} is not on {branch}")
    if current.tenant is None:
        return _Refused(f"{path} is invalid on {branch}")
    if event.op == "delete":
        return None
    if event.op == "verify":
        return _verify(event, current.tenant, path)
    fields = {
        **current.tenant.model_dump(mode="json", by_alias=True),
        **_split_domains(current.tenant, json.loads(event.content or "{}")),
    }
    return _updated(current, fields, path)


def _split_domains(tenant: Tenant, change: dict[str, Any]) -> dict[str, Any]:
    """An update's new domain list: those verified already stay so, the rest must prove it."""
    if "domains" not in change:
        return change
    wanted = sorted(set(change["domains"]))
    verified = [d for d in wanted if d in tenant.domains]
    pending = [d for d in wanted if d not in tenant.domains]
    return {**change, "domains": verified, "pendingDomains": pending or None}


def _verify(event: QueuedEvent, tenant: Tenant, path: str) -> FileResult | _Refused | _AlreadyThere:
    """Move a domain whose DNS proof the verifier saw from pendingDomains to domains."""
    domain = str(json.loads(event.content or "{}").get("domain", ""))
    if domain in tenant.domains:
        return _AlreadyThere()
    pending = tenant.pending_domains or ()
    if domain not in pending:
        return _Refused(f"{path}: '{domain}' is no longer a pending domain")
    fields = {
        **tenant.model_dump(mode="json", by_alias=True),
        "domains": sorted({*tenant.domains, domain}),
        "pendingDomains": [d for d in pending if d != domain] or None,
    }
    text = Tenant.model_validate_json(json.dumps(fields)).to_json()
    return check_file(path, text.encode())


def _updated(
    current: FileResult, fields: dict[str, Any], path: str
) -> FileResult | _Refused | _AlreadyThere:
    try:
        updated = Tenant.model_validate_json(json.dumps(fields))
    except ValidationError as invalid:
        return _Refused(f"{path}: the update does not fit the schema: {invalid}")
    text = updated.to_json()
    # Suspending a suspended tenant changes nothing; it needs no commit either.
    return _AlreadyThere() if text == current.text else check_file(path, text.encode())
