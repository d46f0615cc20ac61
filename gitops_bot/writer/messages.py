"""What the bot writes for people: commit messages, review titles and bodies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from gitops_bot.backends.base import TRAILER, Review
from gitops_bot.contract.checker import FileResult
from gitops_bot.contract.tenant import tenant_path
from gitops_bot.store.queue import QueuedEvent
from gitops_bot.writer.changes import Tree

_VERBS: Final = {
    "tenant.signup": "Add",
    "tenant.update": "Update",
    "tenant.suspend": "Suspend",
    "tenant.resume": "Resume",
    "tenant.delete": "Delete",
    "domain.verified": "Verify domains of",
}
_SHOWN: Final = 5


def _describe(event: QueuedEvent, result: FileResult | None) -> str:
    line = f"- {event.type} {event.slug}"
    if result is not None and result.tenant is not None:
        line += f" (plan {result.tenant.plan}, host {result.tenant.host}, {result.tenant.state})"
    if event.reason_given:
        line += f": {event.reason_given}"
    return line


def subject(events: Sequence[QueuedEvent]) -> str:
    """'Add 3 tenants: a, b, c', or 'Change 4 tenants: ...' when the events differ in kind."""
    verbs = {_VERBS.get(event.type, "Change") for event in events}
    verb = verbs.pop() if len(verbs) == 1 else "Change"
    slugs = sorted({event.slug for event in events})
    shown = ", ".join(slugs[:_SHOWN])
    if len(slugs) > _SHOWN:
        shown += f" and {len(slugs) - _SHOWN} more"
    return f"{verb} {len(slugs)} tenant{'s' if len(slugs) != 1 else ''}: {shown}"


def commit_message(events: Sequence[QueuedEvent], results: Mapping[str, FileResult | None]) -> str:
    """A subject naming the tenants, a line per event, and a trailer per event id."""
    lines = [subject(events), ""]
    lines += [_describe(event, results.get(tenant_path(event.slug))) for event in events]
    lines.append("")
    lines += [f"{TRAILER}: {event.id}" for event in events]
    return "\n".join(lines) + "\n"


def merge_message(branch: str, event: QueuedEvent) -> str:
    approval = f"\n\nApproved: {event.reason_given}" if event.reason_given else ""
    return f"Merge review {branch}{approval}\n\n{TRAILER}: {event.id}\n"


def review_text(
    branch: str,
    events: Sequence[QueuedEvent],
    results: Mapping[str, FileResult | None],
    main: Tree,
    plan: str | None,
) -> Review:
    """The review's title and body: the tenant, its file, and what merging it will deploy."""
    slug = events[0].slug
    result = results.get(tenant_path(slug))
    lines = [f"Tenant `{slug}`, waiting for a reviewer.", ""]
    lines += [_describe(event, result) for event in events]
    if result is not None:
        lines += ["", "```json", result.text.rstrip(), "```"]
    lines += ["", f"Checked against `{main.snapshot.sha[:12]}` of the main branch.", ""]
    if plan is not None:
        lines += ["## What merging deploys", "", plan.rstrip(), ""]
    lines += [f"{TRAILER}: {event.id}" for event in events]
    return Review(branch=branch, title=subject(events), body="\n".join(lines) + "\n")
