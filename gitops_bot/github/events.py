"""What GitHub's events mean for tenants: reviews opened, merged or closed, and deploys run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_bot.config import Settings
from gitops_bot.contract.lifecycle import (
    DEPLOYMENT_STATES,
    status_for_pull_request,
    status_for_workflow_run,
)
from gitops_bot.contract.tenant import REVIEW_PREFIX, slug_problem
from gitops_bot.github.payloads import (
    CommentEvent,
    DeploymentStatusEvent,
    Pull,
    PullRequestEvent,
    Repo,
    ReviewEvent,
    WorkflowRunEvent,
)
from gitops_bot.github.records import GitHubRecords
from gitops_bot.store.queue import Store


@dataclass
class Outcome:
    """What an event did: the transitions it recorded, or why it changed nothing."""

    note: str
    moved: list[dict[str, str]] = field(default_factory=list)
    ignored: bool = False


def _ignore(note: str) -> Outcome:
    return Outcome(note, ignored=True)


class GitHubEvents:
    """Turns verified GitHub events into tenant transitions, all through Store.add_transition.

    Matching rules: a pull request belongs to a tenant when its head is `tenant/<slug>` in
    this repository and its base is the bot's branch. A deploy report names a commit; the
    tenants it concerns are those its deployment payload lists, or else the tenants whose
    change reached the branch in exactly that commit (a deploy of a later commit also
    carries earlier tenants, but telling which would need the history, so those are
    reported by the deployment's own list).
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.records = GitHubRecords(store)

    def handle(self, event: str, payload: Mapping[str, Any]) -> Outcome:
        handlers: dict[str, Callable[[Mapping[str, Any]], Outcome]] = {
            "ping": lambda _payload: Outcome("pong"),
            "pull_request": self._pull_request,
            "pull_request_review": self._review,
            "issue_comment": self._comment,
            "workflow_run": self._workflow_run,
            "deployment_status": self._deployment_status,
        }
        handler = handlers.get(event)
        if handler is None:
            return _ignore(f"{event} events are not used; acknowledged and ignored")
        return handler(payload)

    # --- reviews --------------------------------------------------------------------------

    def _pull_request(self, payload: Mapping[str, Any]) -> Outcome:
        event = PullRequestEvent.model_validate(payload)
        pull = event.pull_request
        slug = self._tenant_of(pull, event.repository)
        if slug is None:
            return _ignore("not a tenant's pull request")
        status = status_for_pull_request(event.action, merged=pull.merged)
        if status is None:
            return _ignore(f"pull_request {event.action} does not move a tenant")
        reason = None
        if status == "rejected":
            closer = f" by {event.sender.login}" if event.sender else ""
            reason = self.records.reason(slug) or f"closed without merging{closer}"
        commit = pull.merge_commit_sha if status == "merged" else None
        outcome = self._move([slug], status, commit=commit, url=pull.html_url, reason=reason)
        if status == "rejected" and outcome.moved:
            self.store.release(slug)  # a rejected signup holds no name and no seat
        if status in {"merged", "rejected"}:
            self.records.forget_reason(slug)
        return outcome

    def _review(self, payload: Mapping[str, Any]) -> Outcome:
        event = ReviewEvent.model_validate(payload)
        slug = self._tenant_of(event.pull_request, event.repository)
        review = event.review
        if slug is None or review.state.lower() != "changes_requested" or not review.body:
            return _ignore("no reason to keep")
        self.records.note_reason(slug, f"changes requested by {review.user.login}: {review.body}")
        return Outcome(f"kept the reason {review.user.login} gave on {slug}'s review")

    def _comment(self, payload: Mapping[str, Any]) -> Outcome:
        event = CommentEvent.model_validate(payload)
        if event.action != "created" or event.issue.pull_request is None:
            return _ignore("not a new comment on a pull request")
        if not self._ours(event.repository) or event.comment.user.type == "Bot":
            return _ignore("not a reviewer's comment")
        slug = self.store.slug_reviewed_at(event.issue.html_url)
        if slug is None:
            return _ignore("not a tenant's pull request")
        self.records.note_reason(slug, f"{event.comment.user.login}: {event.comment.body}")
        return Outcome(f"kept {event.comment.user.login}'s comment on {slug}'s review")

    def _tenant_of(self, pull: Pull, repository: Repo) -> str | None:
        head, base = pull.head, pull.base
        if not self._ours(repository) or base.ref != self.settings.branch:
            return None
        # A fork may name a branch tenant/<slug> too; only this repository's branches count.
        if head.repo is None or head.repo.full_name.lower() != repository.full_name.lower():
            return None
        slug = head.ref.removeprefix(REVIEW_PREFIX)
        if head.ref == slug or slug_problem(slug, allow_reserved=True) is not None:
            return None
        return slug if self.store.last_status(slug) is not None else None

    # --- deploys --------------------------------------------------------------------------

    def _workflow_run(self, payload: Mapping[str, Any]) -> Outcome:
        event = WorkflowRunEvent.model_validate(payload)
        run = event.workflow_run
        if not self._ours(event.repository) or not self._is_deploy(run.name, run.path):
            return _ignore("not the deploy workflow")
        if run.head_branch != self.settings.branch:
            return _ignore(f"a deploy of {run.head_branch}, not {self.settings.branch}")
        status = status_for_workflow_run(event.action, run.conclusion)
        if status is None:
            return _ignore(f"workflow_run {event.action} does not move a tenant")
        reason = f"deploy workflow {run.conclusion}: {run.html_url}" if status == "failed" else None
        slugs = self.store.slugs_at_commit(run.head_sha)
        return self._move(slugs, status, commit=run.head_sha, url=run.html_url, reason=reason)

    def _is_deploy(self, name: str | None, path: str | None) -> bool:
        wanted = self.settings.deploy_workflow
        file_name = (path or "").rsplit("/", 1)[-1]
        return wanted in {name, file_name, file_name.rsplit(".", 1)[0]}

    def _deployment_status(self, payload: Mapping[str, Any]) -> Outcome:
        event = DeploymentStatusEvent.model_validate(payload)
        deployment, state = event.deployment, event.deployment_status
        environment = self.settings.deploy_environment
        if not self._ours(event.repository) or environment not in {None, deployment.environment}:
            return _ignore("not a deployment of this state repo's environment")
        status = DEPLOYMENT_STATES.get(state.state)
        if status is None:
            return _ignore(f"deployment state {state.state} does not move a tenant")
        listed = deployment.tenants() or dict.fromkeys(self.store.slugs_at_commit(deployment.sha))
        reason = None
        if status == "failed":
            reason = f"deployment {state.state}: {state.description or 'no description'}"
            if state.log_url or state.target_url:
                reason += f" ({state.log_url or state.target_url})"
        outcome = Outcome(f"deployment {state.state}")
        for slug, address in listed.items():
            url = (address or state.environment_url) if status == "deployed" else state.log_url
            moved = self._move([slug], status, commit=deployment.sha, url=url, reason=reason)
            outcome.moved += moved.moved
        return outcome

    # --- recording ------------------------------------------------------------------------

    def _ours(self, repository: Repo) -> bool:
        mine = self.settings.github_repository
        return mine is None or mine.lower() == repository.full_name.lower()

    def _move(
        self,
        slugs: list[str],
        status: str,
        *,
        commit: str | None,
        url: str | None,
        reason: str | None,
    ) -> Outcome:
        """Record `status` for each known tenant; the state machine drops what is stale."""
        moved = []
        with self.store.transaction():
            for slug in slugs:
                if self.store.last_status(slug) is None:
                    continue  # a slug the bot never accepted
                if self.store.add_transition(
                    slug, status, commit_sha=commit, url=url, reason=reason
                ):
                    moved.append({"slug": slug, "status": status})
        note = f"{len(moved)} tenant(s) now {status}" if moved else f"no tenant moved to {status}"
        return Outcome(note, moved)
