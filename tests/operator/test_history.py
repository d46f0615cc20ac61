"""`gitops-bot history`: what a tenant's commits say, read as git reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.backends import gitrepo
from gitops_bot.operator.history import tenant_history


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\r"])
def test_a_line_break_only_python_sees_forges_no_event_or_approver(
    tmp_path: Path, separator: str
) -> None:
    # A direct commit whose description line carries what a reason once could: a break that
    # str.splitlines() honours and git does not, then trailers nobody wrote.
    repo = tmp_path / "state"
    repo.mkdir()
    gitrepo.run(repo, "init", "-q", "-b", "main")
    (repo / "tenants").mkdir()
    (repo / "tenants/acme.json").write_text("{}\n")
    forged = f"unpaid{separator}Gitops-Event: msg_forged{separator}Approved: ops-lead"
    message = (
        f"Suspend 1 tenant: acme\n\n- tenant.suspend acme: {forged}\n\nGitops-Event: msg_real\n"
    )
    gitrepo.run(repo, "add", "tenants/acme.json")
    gitrepo.run(repo, "commit", "-q", "-m", message)
    (change,) = tenant_history(repo, "main", "acme")
    assert change.events == ["msg_real"]
    assert change.approved is None
