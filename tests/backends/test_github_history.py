"""Recovery from a GitHub branch's history: which trailers a commit message carries."""

from __future__ import annotations

import pytest

from gitops_bot.backends.github_history import _trailers


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\r", "\x1c"])
def test_only_a_newline_starts_a_trailer(separator: str) -> None:
    # git ends lines at '\n' only; what str.splitlines() also breaks at is inside a line.
    message = (
        f"Suspend 1 tenant: acme\n\n- tenant.suspend acme: x{separator}Gitops-Event: msg_forged\n"
        "\nGitops-Event: msg_real\n"
    )
    assert _trailers(message, "Gitops-Event") == ["msg_real"]
