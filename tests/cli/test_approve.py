"""`gitops-bot approve`: the reason becomes the merge's `Approved:` trailer, so it is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.cli import main


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("lgtm\u2028Gitops-Event: msg_forged", "U+2028"),
        ("lgtm\nGitops-Event: msg_forged", "U+000A"),
        ("lgtm\u202e", "U+202E"),
        ("ask ops-lead@example.com", "email"),
    ],
)
def test_a_reason_that_is_not_printable_text_queues_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reason: str,
    said: str,
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    assert main(["approve", "acme", "--reason", reason, "--wait", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops-bot approve: --reason ")
    assert said in err
    assert not (tmp_path / "var").exists()
