"""A tenant's status history: every transition, as the state machine allows it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from gitops_bot.contract.lifecycle import ON_BRANCH, should_record
from gitops_bot.store import outbox, stagetimes
from gitops_bot.store.database import Database

# SQLite's default limit on a statement's parameters is 999 in older builds.
_CHUNK: Final = 500


class Transitions(Database):
    """The `transitions` table: written only through add_transition, read by everyone."""

    def add_transition(
        self,
        slug: str,
        status: str,
        *,
        event_id: str | None = None,
        commit_sha: str | None = None,
        url: str | None = None,
        reason: str | None = None,
        notify: bool = True,
    ) -> bool:
        """Record that `slug` reached `status`, unless the state machine says it is stale.

        With notifications on, its message is written in the same transaction; `notify`
        False records without telling anyone (history recovered, not a change).
        """
        with self.transaction() as db:
            if not should_record(self.last_status(slug), status):
                return False
            at = time.time()
            inserted = db.execute(
                "INSERT INTO transitions (slug, status, at, event_id, commit_sha, url, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (slug, status, at, event_id, commit_sha, url, reason),
            )
            stagetimes.record(db, slug, status)
            if notify and outbox.enabled(db) and inserted.lastrowid is not None:
                outbox.enqueue(
                    db,
                    transition_id=inserted.lastrowid,
                    slug=slug,
                    status=status,
                    at=at,
                    commit_sha=commit_sha,
                    url=url,
                    reason=reason,
                )
            return True

    def transitions(self, slug: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT status, at, event_id, commit_sha, url, reason FROM transitions"
            " WHERE slug = ? ORDER BY id",
            (slug,),
        )
        return [
            {key: value for key, value in dict(row).items() if value is not None} for row in rows
        ]

    def slugs_with_status(self, *statuses: str) -> set[str]:
        """Tenants whose latest status is one of `statuses`."""
        # The tenant list keeps each tenant's latest status (`recorded`: it has one), by a
        # trigger on transitions: the live probe asks twice a round, and the GROUP BY over
        # every transition it used to run grew with history.
        if not statuses:
            return set()
        marks = ", ".join("?" for _ in statuses)
        rows = self._db.execute(
            f"SELECT slug FROM tenant_list WHERE state IN ({marks}) AND recorded = 1",  # noqa: S608 - only marks
            statuses,
        )
        return {str(slug) for (slug,) in rows}

    def slugs_at_commit(self, sha: str) -> list[str]:
        """Tenants whose change reached the main branch in commit `sha`."""
        rows = self._db.execute(
            "SELECT slug, status FROM transitions WHERE commit_sha = ? ORDER BY id", (sha,)
        )
        return sorted({str(slug) for slug, status in rows if status in ON_BRANCH})

    def branch_commits(self, slugs: Iterable[str]) -> dict[str, str]:
        """Each tenant's latest commit that put it on the main branch (committed or merged)."""
        wanted = sorted(set(slugs))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT slug, commit_sha FROM transitions WHERE slug IN ({marks})"  # noqa: S608 - only placeholders
                " AND status IN ('committed', 'merged') AND commit_sha IS NOT NULL ORDER BY id",
                chunk,
            )
            found.update({str(slug): str(sha) for slug, sha in rows})
        return found

    def slug_reviewed_at(self, url: str) -> str | None:
        """The tenant whose review is at `url` (a pull request's page)."""
        value = self._scalar(
            "SELECT slug FROM transitions WHERE url = ? AND status = 'pr_open'"
            " ORDER BY id DESC LIMIT 1",
            url,
        )
        return None if value is None else str(value)

    def last_status(self, slug: str) -> str | None:
        value = self._scalar(
            "SELECT status FROM transitions WHERE slug = ? ORDER BY id DESC LIMIT 1", slug
        )
        return None if value is None else str(value)
