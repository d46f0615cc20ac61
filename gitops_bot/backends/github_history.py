"""What a GitHub branch's history says after a lost database: which commit added each tenant."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Final

from gitops_bot.backends.base import TRAILER
from gitops_bot.backends.github_api import PER_PAGE, GitHubApi

# How far back added_in reads after a lost database: 5,000 commits touching tenants/.
_HISTORY_PAGES: Final = 50


def added_in(
    api: GitHubApi, branch: str, folder: str, origins: Mapping[str, str]
) -> dict[str, str]:
    """From the event trailers of the commits that touched `folder`, newest first.

    A request per hundred commits rather than one per tenant, and it stops once every
    origin is found. Files added by hand name no event and stay unknown; the search
    gives up after _HISTORY_PAGES pages, so a long hand-made history costs a bounded sum.
    """
    wanted = {origin: path for path, origin in origins.items()}
    commits = api.repo.get_commits(sha=branch, path=folder)
    found: dict[str, str] = {}
    for page in range(_HISTORY_PAGES):
        if not wanted:
            break
        chunk = api.call("list commits", partial(commits.get_page, page), write=False)
        for commit in chunk:
            for event_id in _trailers(commit.commit.message, TRAILER):
                if (path := wanted.pop(event_id, None)) is not None:
                    found[path] = commit.sha
        if len(chunk) < PER_PAGE:
            break
    return found


def _trailers(message: str, key: str) -> list[str]:
    prefix = f"{key}:"
    return [
        line.removeprefix(prefix).strip() for line in message.split("\n") if line.startswith(prefix)
    ]
