"""A recording DeploymentsAPI: deployments and their statuses kept as state, for tests.

Stands in for GitHub until the shared fake GitHub server covers Deployments; it fails on demand
the way PyGithub calls do, with ReportError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitops_bot.deployments import ReportError


@dataclass
class RecordedDeployment:
    ref: str
    environment: str
    payload: dict[str, Any]
    description: str
    statuses: list[dict[str, Any]] = field(default_factory=list)

    def states(self) -> list[str]:
        return [status["state"] for status in self.statuses]


@dataclass
class RecordingDeployments:
    deployments: dict[int, RecordedDeployment] = field(default_factory=dict)
    refuse: set[str] = field(default_factory=set)  # "create", or a status state to refuse

    def create(
        self, *, ref: str, environment: str, payload: dict[str, Any], description: str
    ) -> int:
        if "create" in self.refuse:
            raise ReportError("creating the deployment failed: 403 Resource not accessible")
        deployment_id = len(self.deployments) + 1
        self.deployments[deployment_id] = RecordedDeployment(ref, environment, payload, description)
        return deployment_id

    def create_status(
        self,
        deployment_id: int,
        *,
        state: str,
        description: str,
        environment_url: str | None,
        log_url: str | None,
    ) -> None:
        if state in self.refuse:
            raise ReportError(f"deployment status {state!r} failed: 502 Bad Gateway")
        self.deployments[deployment_id].statuses.append(
            {
                "state": state,
                "description": description,
                "environment_url": environment_url,
                "log_url": log_url,
            }
        )

    def only(self) -> RecordedDeployment:
        (deployment,) = self.deployments.values()
        return deployment
