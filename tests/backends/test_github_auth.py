"""Signing in to GitHub: App installation tokens, their refresh, and tokens kept out of logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fakegithub import FakeGitHub
from gitops_bot.backends.base import BackendError
from gitops_bot.backends.github import GitHubRepo
from gitops_bot.backends.github_auth import REDACTOR, REFRESH_MARGIN, InstallationAuth
from gitops_bot.config import Settings
from helpers import FakeGitHubClock

APP_ID = 4242
INSTALLATION = 77


@pytest.fixture
def app_settings(
    settings: Settings, fleet: FakeGitHub, app_key: tuple[str, bytes], tmp_path: Path
) -> Settings:
    private, public = app_key
    fleet.register_app(APP_ID, public, installation_id=INSTALLATION)
    key_file = tmp_path / "app.pem"
    key_file.write_text(private)
    return Settings(
        state_dir=settings.state_dir,
        webhook_secret=settings.webhook_secret,
        status_token=settings.status_token,
        admin_token=settings.admin_token,
        backend="github",
        github_repository=fleet.full_name,
        github_api_url=fleet.base_url,
        github_app_id=APP_ID,
        github_app_key_file=key_file,
        github_installation_id=INSTALLATION,
    ).require_secrets()


def token_requests(gh: FakeGitHub) -> int:
    return sum(r.path.endswith("/access_tokens") for r in gh.requests)


def test_app_installation_writes_as_the_bot(
    app_settings: Settings, fleet: FakeGitHub, github_clock: FakeGitHubClock
) -> None:
    backend = GitHubRepo.from_settings(app_settings, clock=github_clock)
    head = backend.snapshot("main")
    assert head is not None
    assert backend.advance("main", backend.commit([head.sha], {"tenants/b.json": b"{}\n"}, "B\n"))
    assert {r.principal for r in fleet.requests if "/repos/" in r.path} == {"gitops-bot[bot]"}
    assert token_requests(fleet) == 1


def test_installation_token_is_refreshed_before_it_runs_out(
    app_settings: Settings, fleet: FakeGitHub, github_clock: FakeGitHubClock
) -> None:
    backend = GitHubRepo.from_settings(app_settings, clock=github_clock)
    backend.snapshot("main")
    github_clock.advance(3600 - REFRESH_MARGIN - 60)  # still well inside its hour
    backend.snapshot("main")
    assert token_requests(fleet) == 1
    github_clock.advance(61)  # now within the margin: fetched again before it expires
    backend.snapshot("main")
    assert token_requests(fleet) == 2
    github_clock.advance(3600)  # long past the first token's hour
    backend.snapshot("main")
    assert token_requests(fleet) == 3
    assert all(r.status != 401 for r in fleet.requests)


def test_a_refused_installation_token_is_replaced_once(
    app_settings: Settings, fleet: FakeGitHub, github_clock: FakeGitHubClock
) -> None:
    backend = GitHubRepo.from_settings(app_settings, clock=github_clock)
    auth = backend.api.auth
    assert isinstance(auth, InstallationAuth)
    fleet.revoke_token(auth.token)
    assert backend.snapshot("main") is not None
    assert [r.status for r in fleet.requests if r.path.endswith("/heads/main")] == [401, 200]


def test_tokens_never_reach_logs_or_errors(
    app_settings: Settings,
    github_settings: Settings,
    fleet: FakeGitHub,
    github_clock: FakeGitHubClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub logs each answer at DEBUG
    app_backend = GitHubRepo.from_settings(app_settings, clock=github_clock)
    app_backend.snapshot("main")
    auth = app_backend.api.auth
    assert isinstance(auth, InstallationAuth)
    installation_token = auth.token
    assert "access_tokens" in caplog.text  # the answer that carries the token was logged

    backend = GitHubRepo.from_settings(github_settings, clock=github_clock)
    backend.snapshot("main")
    assert github_settings.github_token is not None
    personal_token = github_settings.github_token.get_secret_value()
    fleet.revoke_token(personal_token)
    with pytest.raises(BackendError) as refused:
        backend.snapshot("main")
    assert "401" in str(refused.value)

    for token in (installation_token, personal_token):
        assert token not in caplog.text
        assert token not in str(refused.value)
        assert token not in repr(refused.value)


def test_redactor_catches_token_shapes_it_was_never_told() -> None:
    text = "auth ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 and github_pat_11ABCDEFGHIJKLMNOPQRSTUV"
    assert REDACTOR.redact(text) == "auth [redacted] and [redacted]"
