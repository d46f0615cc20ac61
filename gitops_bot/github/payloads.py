"""The parts of GitHub's webhook payloads the bot reads; everything else in them is ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from gitops_bot.web.jsonbody import BodyError, parse_json


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Repo(_Part):
    full_name: str


class User(_Part):
    login: str
    type: str = "User"


class Ref(_Part):
    ref: str
    sha: str
    repo: Repo | None = None  # null when the fork it came from was deleted


class Pull(_Part):
    number: int
    html_url: str
    merged: bool = False
    merge_commit_sha: str | None = None
    head: Ref
    base: Ref


class PullRequestEvent(_Part):
    action: str
    pull_request: Pull
    repository: Repo
    sender: User | None = None


class Review(_Part):
    state: str
    body: str | None = None
    user: User


class ReviewEvent(_Part):
    action: str
    review: Review
    pull_request: Pull
    repository: Repo


class Issue(_Part):
    html_url: str
    pull_request: dict[str, Any] | None = None  # present only when the issue is a pull request


class Comment(_Part):
    body: str
    user: User


class CommentEvent(_Part):
    action: str
    issue: Issue
    comment: Comment
    repository: Repo


class Run(_Part):
    name: str | None = None
    path: str | None = None
    head_branch: str | None = None
    head_sha: str
    conclusion: str | None = None
    html_url: str


class WorkflowRunEvent(_Part):
    action: str
    workflow_run: Run
    repository: Repo


class Deployment(_Part):
    sha: str
    environment: str
    payload: Any = None

    def tenants(self) -> dict[str, str | None]:
        """The tenants the deploy says it brings up, each with its address when given.

        `gitops-bot deploy` sends {"gitopsBot": 1, "hosts": [...], "newTenants": [{"slug",
        "host", "url"}, ...]} (see deployments.py); {"tenants": {"<slug>": "<url>"}} and a
        list of slugs are read too. GitHub passes the payload on as it was given: an
        object, or a JSON string.
        """
        payload = self.payload
        if isinstance(payload, str):
            try:
                payload = parse_json(payload)
            except BodyError:
                return {}
        if not isinstance(payload, dict):
            return {}
        if isinstance(new := payload.get("newTenants"), list):
            return {
                str(item["slug"]): item.get("url") if isinstance(item.get("url"), str) else None
                for item in new
                if isinstance(item, dict) and isinstance(item.get("slug"), str)
            }
        listed = payload.get("tenants")
        if isinstance(listed, dict):
            return {
                str(slug): url if isinstance(url, str) else None for slug, url in listed.items()
            }
        if isinstance(listed, list):
            return {str(slug): None for slug in listed}
        return {}


class DeploymentState(_Part):
    state: str
    environment_url: str | None = None
    description: str | None = None
    log_url: str | None = None
    target_url: str | None = None


class DeploymentStatusEvent(_Part):
    deployment_status: DeploymentState
    deployment: Deployment
    repository: Repo
