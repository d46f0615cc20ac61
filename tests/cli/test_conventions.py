"""The command line's conventions: version, help for every option, settings errors by name."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from gitops_bot.cli import EXIT_CODES, build_parser, main
from gitops_bot.config import Settings


def _parsers(parser: argparse.ArgumentParser, path: str = "gitops-bot"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


PARSERS = list(_parsers(build_parser()))


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"gitops-bot {metadata.version('gitops-bot')}\n"


def test_python_dash_m_gitops_bot_is_the_same_command(tmp_path: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "gitops_bot", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"gitops-bot {metadata.version('gitops-bot')}\n"


@pytest.mark.parametrize(("path", "parser"), PARSERS[1:], ids=[path for path, _ in PARSERS[1:]])
def test_every_subcommand_has_a_description(path: str, parser: argparse.ArgumentParser) -> None:
    assert parser.description, path


@pytest.mark.parametrize(("path", "parser"), PARSERS, ids=[path for path, _ in PARSERS])
def test_every_option_has_help_and_shows_its_default(
    path: str, parser: argparse.ArgumentParser
) -> None:
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.dest in {"help", "version"}:
            continue
        assert action.help, f"{path} {action.option_strings or action.dest}: no help"
        flag = isinstance(action.const, bool) and action.nargs == 0
        if not flag and action.default not in {None, argparse.SUPPRESS}:
            shown = str(action.default)
            assert f"default: {shown}" in " ".join(text.split()), f"{path} {action.dest}"


def test_the_top_level_help_lists_exit_codes_and_every_variable() -> None:
    text = build_parser().format_help()
    for code, meaning in EXIT_CODES:
        assert f"{code:<4} {meaning}" in text
    for name in Settings.model_fields:
        assert f"GITOPS_BOT_{name.upper()} " in text or text.count(f"GITOPS_BOT_{name.upper()}\n")


def test_a_bad_setting_names_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GITOPS_BOT_MAX_QUEUE", "abc")
    assert main(["tenants", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops-bot tenants: configuration error: GITOPS_BOT_MAX_QUEUE: ")
    assert "max_queue" not in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_a_bad_secret_value_is_not_repeated_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GITOPS_BOT_GITHUB_APP_ID", "hunter2-not-a-number")
    assert main(["tenants", "list"]) == 2
    err = capsys.readouterr().err
    assert "GITOPS_BOT_GITHUB_APP_ID" in err
    assert "hunter2" not in err


def test_the_installed_command_exits_cleanly_on_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "GITOPS_BOT_STATE_DIR": str(tmp_path), "GITOPS_BOT_MAX_QUEUE": "abc"}
    ran = subprocess.run(
        [sys.executable, "-m", "gitops_bot", "tenants", "list"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert ran.returncode == 2
    assert "GITOPS_BOT_MAX_QUEUE" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_a_queue_file_from_a_newer_version_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3  # noqa: PLC0415

    from gitops_bot.store.migrations import CURRENT  # noqa: PLC0415

    database = tmp_path / "var" / "gitops-bot.sqlite3"
    database.parent.mkdir()
    sqlite3.connect(database).execute(f"PRAGMA user_version = {CURRENT + 1}")
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    assert main(["approve", "acme"]) == 2
    err = capsys.readouterr().err
    assert f"version {CURRENT + 1}" in err
    assert str(database) in err
    assert err.count("\n") == 1


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_is_generated_from_the_parser_itself(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--print-completion", shell])
    assert done.value.code == 0
    script = capsys.readouterr().out
    # Every subcommand and a deep option: a new one cannot be forgotten by the completion.
    for path, _ in PARSERS[1:]:
        assert path.split()[-1] in script, path
    assert "--engine" in script
