"""The command line as a whole: what every subcommand does when the state repo fails it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.cli import main


def test_an_unreachable_state_repo_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GITOPS_BOT_REMOTE", str(tmp_path / "nowhere.git"))
    assert main(["tenants", "show", "acme"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gitops-bot tenants: git fetch failed: fatal: ")
    assert "Traceback" not in err
    assert "stderr: '" not in err  # git's own words, not GitPython's wrapping
    assert err.count("\n") == 1
