"""What the fake remembers besides git: pull requests, reviews, comments, labels, deployments."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class Review:
    id: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED
    body: str
    commit_id: str
    submitted_at: float


@dataclass
class Comment:
    id: int
    issue_number: int
    user: str
    body: str
    created_at: float
    updated_at: float


@dataclass
class AutoMerge:
    enabled_by: str
    merge_method: str  # merge, squash, rebase (REST spelling)
    commit_title: str | None
    commit_message: str | None


@dataclass
class Pull:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    head_ref: str
    base_ref: str
    draft: bool
    maintainer_can_modify: bool
    created_at: float
    updated_at: float
    state: str = "open"
    closed_at: float | None = None
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    # Frozen when the pull request closes; while open, head and base follow their branches.
    head_sha: str | None = None
    base_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    auto_merge: AutoMerge | None = None

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class DeploymentStatus:
    id: int
    state: str
    creator: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    created_at: float


@dataclass
class Deployment:
    id: int
    sha: str
    ref: str
    task: str
    payload: object
    environment: str
    original_environment: str
    description: str | None
    creator: str
    transient_environment: bool
    production_environment: bool
    created_at: float
    statuses: list[DeploymentStatus] = field(default_factory=list)


@dataclass
class RepoState:
    # Issues and pull requests share one number sequence, as on GitHub.
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_001))
    pulls: dict[int, Pull] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)
    deployments: dict[int, Deployment] = field(default_factory=dict)

    def next_id(self) -> int:
        return next(self.ids)

    def label(self, name: str) -> Label:
        """GitHub creates a label the first time an issue is given it."""
        key = name.lower()
        if key not in self.labels:
            self.labels[key] = Label(self.next_id(), name, "ededed", None)
        return self.labels[key]
