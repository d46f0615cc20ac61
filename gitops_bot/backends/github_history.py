"""What a GitHub branch's history says after a lost database: which commit added each tenant."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Final

from gitops_bot.backends.base import TRAILER, AddedIn
from gitops_bot.backends.github_api import PER_PAGE, GitHubApi

log = logging.getLogger(__name__)

# How far back added_in reads after a lost database: 5,000 commits touching tenants/.
HISTORY_PAGES: Final = 50


def added_in(
    api: GitHubApi,
    branch: str,
    folder: str,
    origins: Mapping[str, str],
    *,
    pages: int = HISTORY_PAGES,
) -> AddedIn:
    """From the event trailers of the commits that touched `folder`, newest first.

    A request per hundred commits rather than one per tenant, and it stops once every
    origin is found. Files added by hand name no event and stay unknown; the search
    gives up after `pages` pages, so a long history costs a bounded sum, and the files
    still sought then are `unreached`.
    """
    wanted = {origin: path for path, origin in origins.items()}
    commits = api.repo.get_commits(sha=branch, path=folder)
    found: dict[str, str] = {}
    complete = False
    for page in range(pages):
        if not wanted:
            break
        chunk = api.call("list commits", partial(commits.get_page, page), write=False)
        for commit in chunk:
            for event_id in _trailers(commit.commit.message, TRAILER):
                if (path := wanted.pop(event_id, None)) is not None:
                    found[path] = commit.sha
        if len(chunk) < PER_PAGE:
            complete = True
            break
    if complete or not wanted:
        return AddedIn(found)
    bound = f"the {pages * PER_PAGE:,} newest commits touching {folder}/"
    log.warning(
        "history search stopped at %s: %d files' commits not found there", bound, len(wanted)
    )
    return AddedIn(found, unreached=frozenset(wanted.values()), bound=bound)


def _trailers(message: str, key: str) -> list[str]:
    prefix = f"{key}:"
    return [
        line.removeprefix(prefix).strip() for line in message.split("\n") if line.startswith(prefix)
    ]
