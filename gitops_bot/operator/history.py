"""A tenant's audit trail: every commit that touched its file, with the events behind each."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from gitops_bot.backends import gitrepo
from gitops_bot.backends.base import TRAILER
from gitops_bot.contract.tenant import tenant_path
from gitops_bot.store.queue import Store

_FIELDS: Final = "%H%x1f%P%x1f%aI%x1f%an%x1f%s%x1f%b%x1e"


@dataclass
class Change:
    """One commit on the main branch that changed the tenant's file."""

    commit: str
    at: str
    author: str
    subject: str
    events: list[str] = field(default_factory=list)
    approved: str | None = None
    review: str | None = None
    # What the bot saw happen after this commit: reviews, deploys, their URLs.
    reports: list[dict[str, Any]] = field(default_factory=list)


def tenant_history(repo: Path, ref: str, slug: str) -> list[Change]:
    """Oldest first. Merges of reviews count as one change, with the review's events."""
    log = gitrepo.run(
        repo,
        "log",
        "--first-parent",
        "--reverse",
        f"--format={_FIELDS}",
        ref,
        "--",
        tenant_path(slug),
    ).decode()
    changes = []
    for record in filter(None, (r.strip("\n") for r in log.split("\x1e"))):
        sha, parents, at, author, subject, body = record.split("\x1f")
        change = Change(commit=sha, at=at, author=author, subject=subject)
        # The root commit has no parent: the seed that added the first tenants.
        first, *merged = parents.split() or [""]
        if merged:
            # A merged review: its events are trailers of the branch's own commits.
            change.review = subject
            change.events = gitrepo.trailers(repo, first, merged[0], TRAILER)
        for line in body.split("\n"):
            key, _, value = line.partition(":")
            if key == TRAILER:
                change.events.append(value.strip())
            elif key == "Approved":
                change.approved = value.strip()
        changes.append(change)
    return changes


def with_reports(changes: list[Change], store: Store, slug: str) -> list[Change]:
    """Attach what the queue recorded (review URLs, deploys, failures) to the commits."""
    by_commit: dict[str, Change] = {change.commit: change for change in changes}
    event_commit = {event: change for change in changes for event in change.events}
    last: Change | None = changes[0] if changes else None
    for transition in store.transitions(slug):
        owner = by_commit.get(transition.get("commit_sha", "")) or event_commit.get(
            transition.get("event_id", "")
        )
        if owner is not None:
            last = owner
        if last is not None and transition["status"] != "accepted":
            report = dict(transition)
            report["at"] = datetime.fromtimestamp(report["at"], UTC).isoformat(timespec="seconds")
            last.reports.append(report)
    return changes


def as_json(changes: list[Change]) -> list[dict[str, Any]]:
    return [asdict(change) for change in changes]
