"""The state machine of a tenant: its statuses, how events move it, and what is never undone."""

from __future__ import annotations

from typing import Final

# The provisioning path a signup walks, in order. A direct commit and a merged review
# both mean "on the main branch", so they share a rank.
PROGRESS: Final = {
    "accepted": 0,
    "pr_open": 1,
    "committed": 2,
    "merged": 2,
    "evaluated": 3,  # local mode: nix/ evaluated with the tenant in it; no deploy is observed
    "deploying": 4,
    # A deploy that included the tenant succeeded; its URL has not answered yet.
    "deployed": 5,
    # Its URL answered over HTTPS, certificate verified, as often in a row as policy asks.
    "live": 6,
}
# Lifecycle statuses: recorded whenever they happen, after any point of the path.
LIFECYCLE: Final = frozenset({"updated", "suspended", "resumed", "deleted"})
# Ends of a path that went wrong; each carries a reason.
ENDINGS: Final = frozenset({"rejected", "failed"})
STATUSES: Final = frozenset(PROGRESS) | LIFECYCLE | ENDINGS

# The status a tenant reaches when an event of this type lands on the main branch.
LANDED: Final = {
    "tenant.signup": "committed",
    "tenant.update": "updated",
    "tenant.suspend": "suspended",
    "tenant.resume": "resumed",
    "tenant.delete": "deleted",
}

# Statuses that mean "the change is on the main branch, in this commit".
ON_BRANCH: Final = ("committed", "merged")

# What GitHub reports, as tenant statuses. A deployment's state (deployment_status events):
DEPLOYMENT_STATES: Final = {
    "in_progress": "deploying",
    # A deploy that went well is not yet a tenant that answers: the probe says "live".
    "success": "deployed",
    "failure": "failed",
    "error": "failed",
}
# Conclusions of the deploy workflow's run that mean its tenants did not go live.
FAILED_RUNS: Final = frozenset({"failure", "timed_out", "startup_failure"})


def status_for_pull_request(action: str, *, merged: bool) -> str | None:
    """Where a tenant's pull request event leaves it; None when it says nothing new."""
    if action in {"opened", "reopened"}:
        return "pr_open"
    if action == "closed":
        return "merged" if merged else "rejected"
    return None


def status_for_workflow_run(action: str, conclusion: str | None) -> str | None:
    """Where the deploy workflow's run leaves the tenants of its commit.

    "deployed" is only ever reported by a deployment, which names the tenant's address, and
    "live" only by the probe of that address.
    """
    if action == "in_progress":
        return "deploying"
    if action == "completed" and conclusion in FAILED_RUNS:
        return "failed"
    return None


def status_on_landing(event_type: str, *, delivery: str, op: str) -> str:
    """Where an event leaves its tenant once its commit is on a branch."""
    if op == "merge":
        return "merged"
    if delivery != "direct":
        return "pr_open"
    return LANDED.get(event_type, "updated")


def should_record(last: str | None, new: str) -> bool:
    """Whether moving from `last` to `new` tells the landing page something true and new.

    Reports from GitHub arrive late, twice or out of order; a tenant never goes back
    along the provisioning path (a late "deploying" after "live" is dropped), and the
    same status is not recorded twice in a row.
    """
    if new not in STATUSES:
        raise ValueError(f"unknown tenant status {new!r}")
    if last == new and new not in LIFECYCLE:
        return False
    if new == "pr_open":
        # A tenant on the main branch may go through review again (a reviewed update or
        # deletion), and that review then moves it on to "merged" once more.
        return True
    if last in PROGRESS and new in PROGRESS:
        return PROGRESS[new] > PROGRESS[last]
    return True
