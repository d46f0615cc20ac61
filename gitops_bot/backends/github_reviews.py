"""Pull requests as reviews: find or open one per review branch, describe it, ask, auto-merge."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final

from github.PullRequest import PullRequest

from gitops_bot.backends.base import Review
from gitops_bot.backends.github_api import PER_PAGE, ApiError, GitHubApi

if TYPE_CHECKING:
    from gitops_bot.config import Settings

log = logging.getLogger(__name__)

# GitHub's refusal to queue auto-merge for a pull request that could merge right now.
_CLEAN: Final = "clean status"
_UNPROCESSABLE: Final = 422


@dataclass(frozen=True)
class ReviewOptions:
    base: str = "main"
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    auto_merge: bool = False
    merge_method: str = "merge"

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewOptions:
        return cls(
            base=settings.branch,
            labels=settings.review_labels,
            reviewers=settings.review_reviewers,
            team_reviewers=settings.review_team_reviewers,
            auto_merge=settings.auto_merge,
            merge_method=settings.merge_method,
        )


class PullRequests:
    """One open pull request per review branch, kept as the configuration describes it.

    Every step looks before it writes, so a redelivered event or a retry after a lost
    answer updates the pull request it finds instead of opening a second one.
    """

    def __init__(self, api: GitHubApi, options: ReviewOptions) -> None:
        self.api = api
        self.options = options

    def open(self, review: Review, *, fresh_branch: bool) -> str:
        pull = None if fresh_branch else self._find(review.branch)
        if pull is None:
            pull = self._create(review)
        elif (pull.title, pull.body or "") != (review.title, review.body):
            self.api.call(
                f"describe {review.branch}",
                lambda: pull.edit(title=review.title, body=review.body),
                write=True,
            )
        self._decorate(pull)
        if self.options.auto_merge:
            self._auto_merge(pull)
        return pull.html_url

    def open_branches(self, prefix: str) -> dict[str, str]:
        """This repository's branches named `prefix`... with an open pull request: their URLs."""
        pulls = self.api.repo.get_pulls(state="open", base=self.options.base)
        found: dict[str, str] = {}
        own_name = self.api.full_name.lower()
        for page in itertools.count():
            chunk = self.api.call(
                "list open pull requests", partial(pulls.get_page, page), write=False
            )
            for pull in chunk:
                # A fork may name a branch tenant/<slug> too; only this repository's count.
                head = pull.head
                ours = head.repo is not None and head.repo.full_name.lower() == own_name
                if ours and head.ref.startswith(prefix):
                    found[head.ref] = pull.html_url
            if len(chunk) < PER_PAGE:
                return found
        return found

    def _find(self, branch: str) -> PullRequest | None:
        head = f"{self.api.owner}:{branch}"  # without the owner, GitHub ignores the filter
        return self.api.call(
            f"find the pull request of {branch}",
            lambda: next(
                iter(self.api.repo.get_pulls(state="open", head=head, base=self.options.base)),
                None,
            ),
            write=False,
        )

    def _create(self, review: Review) -> PullRequest:
        try:
            return self.api.call(
                f"open a pull request for {review.branch}",
                lambda: self.api.repo.create_pull(
                    base=self.options.base,
                    head=review.branch,
                    title=review.title,
                    body=review.body,
                ),
                write=True,
            )
        except ApiError as refused:
            # "A pull request already exists": an earlier attempt's answer was lost.
            if refused.status != _UNPROCESSABLE or (found := self._find(review.branch)) is None:
                raise
            return found

    def _decorate(self, pull: PullRequest) -> None:
        """Labels and reviewers from the configuration, each asked for only when missing.

        New commits on the branch are why this runs again, and asking a reviewer who
        already reviewed is GitHub's "re-request review", which is what they need then.
        """
        options, where = self.options, f"pull request #{pull.number}"
        has_labels = {label.name for label in pull.labels}
        asked = {user.login for user in pull.requested_reviewers}
        asked_teams = {team.slug for team in pull.requested_teams}
        labels = [name for name in options.labels if name not in has_labels]
        users = [login for login in options.reviewers if login not in asked]
        teams = [slug for slug in options.team_reviewers if slug not in asked_teams]
        try:
            if labels:
                self.api.call(f"label {where}", lambda: pull.add_to_labels(*labels), write=True)
            if users or teams:
                self.api.call(
                    f"ask for reviews of {where}",
                    lambda: pull.create_review_request(reviewers=users, team_reviewers=teams),
                    write=True,
                )
        except ApiError as refused:
            # A reviewer who is not a collaborator, or the author: the pull request stands,
            # and the operator's configuration needs fixing, not the tenant's change.
            if refused.status != _UNPROCESSABLE:
                raise
            log.warning("%s: %s", where, refused)

    def _auto_merge(self, pull: PullRequest) -> None:
        if pull.auto_merge is not None:
            return
        where, method = f"pull request #{pull.number}", self.options.merge_method
        try:
            self.api.call(
                f"enable auto-merge of {where}",
                lambda: pull.enable_automerge(merge_method=method.upper()),
                write=True,
            )
        except ApiError as refused:
            if _CLEAN not in refused.message:
                log.warning("%s: auto-merge refused: %s", where, refused.message)
                return
            self._merge_now(pull)

    def _merge_now(self, pull: PullRequest) -> None:
        """GitHub merges nothing by itself that could merge now: merge it, at the checked head."""
        where, head = f"pull request #{pull.number}", pull.head.sha
        try:
            self.api.call(
                f"merge {where}",
                lambda: pull.merge(merge_method=self.options.merge_method, sha=head),
                write=True,
            )
        except ApiError as refused:
            # 405: no longer mergeable; 409: the branch moved. Both leave it to a person.
            log.warning("%s: not merged: %s", where, refused.message)
