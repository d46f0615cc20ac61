"""Settings: environment variables, secret files, systemd credentials and demo mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gitops_bot.config import ConfigError, Settings, environment_variables, explain


def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GITOPS_BOT_WEBHOOK_SECRET_FILE"):
        Settings(state_dir=tmp_path).require_secrets()


def test_secret_from_environment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("whsec_ZnJvbS1maWxl\n")
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "admin").write_text("adm\n")
    monkeypatch.setenv("GITOPS_BOT_WEBHOOK_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("GITOPS_BOT_STATUS_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("GITOPS_BOT_ADMIN_TOKEN_FILE", str(tmp_path / "admin"))
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    settings = Settings().require_secrets()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "whsec_ZnJvbS1maWxl"
    assert "ZnJvbS1maWxl" not in repr(settings)


def test_secret_from_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "webhook-secret").write_text("whsec_Y3JlZA==")
    (tmp_path / "status-token").write_text("tok")
    (tmp_path / "admin-token").write_text("adm")
    (tmp_path / "session-key").write_text("from-credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = Settings(state_dir=tmp_path / "var").require_secrets()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "whsec_Y3JlZA=="
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "adm"
    assert settings.session_key is not None
    assert settings.session_key.get_secret_value() == "from-credentials"
    assert not (tmp_path / "var" / "session-key").exists()


def test_admin_token_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"GITOPS_BOT_ADMIN_TOKEN_FILE.*'admin-token'"):
        Settings(
            state_dir=tmp_path, webhook_secret="whsec_eA==", status_token="t"
        ).require_secrets()


def test_notify_secret_is_required_only_with_a_notify_url(tmp_path: Path) -> None:
    base = Settings(
        state_dir=tmp_path, webhook_secret="whsec_eA==", status_token="t", admin_token="a"
    )
    assert base.require_secrets().notify_secret is None
    with pytest.raises(ConfigError, match="GITOPS_BOT_NOTIFY_SECRET_FILE"):
        base.model_copy(update={"notify_url": "https://landing.example/hooks"}).require_secrets()


def test_session_key_is_generated_once_and_bound_to_the_admin_token(tmp_path: Path) -> None:
    secrets = {"webhook_secret": "whsec_eA==", "status_token": "t", "admin_token": "first"}
    first = Settings(state_dir=tmp_path, **secrets).require_secrets()
    again = Settings(state_dir=tmp_path, **secrets).require_secrets()
    rotated = Settings(state_dir=tmp_path, **{**secrets, "admin_token": "second"}).require_secrets()
    assert (tmp_path / "session-key").stat().st_mode & 0o077 == 0
    assert first.session_key == again.session_key == rotated.session_key
    assert first.flask_secret_key() == again.flask_secret_key()
    # A new admin token ends every session signed under the old one.
    assert first.flask_secret_key() != rotated.flask_secret_key()
    assert set(first.secret_values()) >= {"whsec_eA==", "t", "first"}


def test_unreadable_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read secret file"):
        Settings(webhook_secret_file=tmp_path / "missing")


def test_demo_mode_generates_secrets_once_and_shares_them(tmp_path: Path) -> None:
    first = Settings(demo=True, state_dir=tmp_path).require_secrets()
    second = Settings(demo=True, state_dir=tmp_path).require_secrets()
    assert first.webhook_secret is not None
    assert second.webhook_secret is not None
    assert first.webhook_secret.get_secret_value().startswith("whsec_")
    assert first.webhook_secret == second.webhook_secret
    assert first.status_token == second.status_token
    assert first.admin_token == second.admin_token
    assert first.admin_token is not None
    assert first.notify_secret is None  # no notify_url, no secret to invent
    secret_file = first.demo_secret_path("webhook_secret")
    assert secret_file.stat().st_mode & 0o077 == 0


def test_policy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GITOPS_BOT_POLICY", '{"plans": {"enterprise": "pr"}, "events": {"tenant.update": "pr"}}'
    )
    settings = Settings()
    assert settings.delivery_for("tenant.signup", "enterprise") == "pr"
    assert settings.delivery_for("tenant.signup", "free") == "direct"
    assert settings.delivery_for("tenant.update", "free") == "pr"
    assert settings.delivery_for("tenant.delete", "free") == "pr"  # always reviewed


def test_malformed_policy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_POLICY", '{"plans": {"enterprise": "maybe"}}')
    with pytest.raises(ValueError, match=r"plans\.enterprise"):
        Settings()


def _secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "webhook-secret").write_text("whsec_Y3JlZA==")
    (tmp_path / "status-token").write_text("tok")
    (tmp_path / "admin-token").write_text("admin")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))


def test_github_webhook_secret_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _secrets(tmp_path, monkeypatch)
    assert Settings().require_secrets().github_webhook_secret is None
    (tmp_path / "github-webhook-secret").write_text("gh-secret\n")
    settings = Settings().require_secrets()
    assert settings.github_webhook_secret is not None
    assert settings.github_webhook_secret.get_secret_value() == "gh-secret"


def test_github_backend_needs_a_repository_and_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _secrets(tmp_path, monkeypatch)
    monkeypatch.setenv("GITOPS_BOT_BACKEND", "github")
    with pytest.raises(ConfigError, match="GITOPS_BOT_GITHUB_REPOSITORY"):
        Settings().require_secrets()
    monkeypatch.setenv("GITOPS_BOT_GITHUB_REPOSITORY", "acme-ops/fleet-state")
    with pytest.raises(ConfigError, match="GITOPS_BOT_GITHUB_TOKEN_FILE"):
        Settings().require_secrets()
    monkeypatch.setenv("GITOPS_BOT_GITHUB_APP_ID", "4242")
    monkeypatch.setenv("GITOPS_BOT_GITHUB_INSTALLATION_ID", "77")
    with pytest.raises(ConfigError, match="github-app-key"):
        Settings().require_secrets()  # an App needs its key too
    (tmp_path / "github-token").write_text("github_pat_example\n")
    settings = Settings().require_secrets()
    assert settings.github_token is not None
    assert "github_pat_example" not in repr(settings)


def test_malformed_repository_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_GITHUB_REPOSITORY", "https://github.com/acme-ops/fleet-state")
    with pytest.raises(ValueError, match="github_repository"):
        Settings()


def test_review_names_as_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_REVIEW_LABELS", "tenant, automated")
    monkeypatch.setenv("GITOPS_BOT_REVIEW_TEAM_REVIEWERS", '["ops", "platform"]')
    settings = Settings()
    assert settings.review_labels == ("tenant", "automated")
    assert settings.review_team_reviewers == ("ops", "platform")
    assert settings.review_reviewers == ()


def test_github_pacing_defaults_stay_under_githubs_limits() -> None:
    settings = Settings()
    assert settings.write_interval >= 1
    assert settings.content_writes_per_minute < 80
    assert settings.content_writes_per_hour < 500


def test_settings_errors_name_the_environment_variable_and_not_the_value(monkeypatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_MAX_QUEUE", "abc-secretish")
    with pytest.raises(ValidationError) as problem:
        Settings()
    text = explain(problem.value)
    assert text.startswith("GITOPS_BOT_MAX_QUEUE: ")
    assert "abc-secretish" not in text


def test_the_variable_list_is_every_setting() -> None:
    names = [name for name, _ in environment_variables()]
    assert names == [f"GITOPS_BOT_{field.upper()}" for field in Settings.model_fields]
    assert "GITOPS_BOT_MAX_QUEUE" in names
