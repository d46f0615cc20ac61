"""The delivery policy: which changes go straight to the branch and which wait for review."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DeliveryMode = Literal["direct", "pr"]


class Policy(BaseModel):
    """Which changes go straight to the branch and which wait for a reviewer.

    An event type's rule wins over its plan's, which wins over the default; deletions
    always go through review, whatever the rest says. Given as JSON, for example
    GITOPS_BOT_POLICY='{"plans": {"enterprise": "pr"}}'.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: DeliveryMode = "direct"
    plans: dict[str, DeliveryMode] = Field(default_factory=dict)
    events: dict[str, DeliveryMode] = Field(default_factory=dict)

    def delivery_for(self, event_type: str, plan: str) -> DeliveryMode:
        if event_type == "tenant.delete":
            return "pr"
        return self.events.get(event_type) or self.plans.get(plan) or self.default
