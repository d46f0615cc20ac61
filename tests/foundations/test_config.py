"""Settings: environment variables, secret files, systemd credentials and demo mode."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from gitops_bot.config import (
    MIN_KEY_BYTES,
    MIN_TOKEN_CHARS,
    ConfigError,
    Settings,
    environment_variables,
    explain,
)

# As long as the bot accepts; none of them is a real secret.
KEY = base64.b64encode(b"config-test-key-0123456789").decode()
WHSEC = f"whsec_{KEY}"
TOKEN = "status-token-for-config-tests-0123"
ADMIN = "admin-token-for-config-tests-01234"
SECRETS = {"webhook_secret": WHSEC, "status_token": TOKEN, "admin_token": ADMIN}


def test_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GITOPS_BOT_WEBHOOK_SECRET_FILE"):
        Settings(state_dir=tmp_path).require_secrets()


def test_secret_from_environment_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text(f"{WHSEC}\n")
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    (tmp_path / "admin").write_text(f"{ADMIN}\n")
    monkeypatch.setenv("GITOPS_BOT_WEBHOOK_SECRET_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("GITOPS_BOT_STATUS_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("GITOPS_BOT_ADMIN_TOKEN_FILE", str(tmp_path / "admin"))
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))
    settings = Settings().require_secrets()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == WHSEC
    assert KEY not in repr(settings)


def test_secret_from_systemd_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "webhook-secret").write_text(WHSEC)
    (tmp_path / "status-token").write_text(TOKEN)
    (tmp_path / "admin-token").write_text(ADMIN)
    (tmp_path / "session-key").write_text("session-key-from-credentials-0123")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = Settings(state_dir=tmp_path / "var").require_secrets()
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == WHSEC
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == ADMIN
    assert settings.session_key is not None
    assert settings.session_key.get_secret_value() == "session-key-from-credentials-0123"
    assert not (tmp_path / "var" / "session-key").exists()


def test_admin_token_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"GITOPS_BOT_ADMIN_TOKEN_FILE.*'admin-token'"):
        Settings(state_dir=tmp_path, webhook_secret=WHSEC, status_token=TOKEN).require_secrets()


def test_notify_secret_is_required_only_with_a_notify_url(tmp_path: Path) -> None:
    base = Settings(state_dir=tmp_path, **SECRETS)
    assert base.require_secrets().notify_secret is None
    with pytest.raises(ConfigError, match="GITOPS_BOT_NOTIFY_SECRET_FILE"):
        base.model_copy(update={"notify_url": "https://landing.example/hooks"}).require_secrets()


def test_session_key_is_generated_once_and_bound_to_the_admin_token(tmp_path: Path) -> None:
    first = Settings(state_dir=tmp_path, **SECRETS).require_secrets()
    again = Settings(state_dir=tmp_path, **SECRETS).require_secrets()
    rotated = Settings(
        state_dir=tmp_path, **{**SECRETS, "admin_token": ADMIN[::-1]}
    ).require_secrets()
    assert (tmp_path / "session-key").stat().st_mode & 0o077 == 0
    assert first.session_key == again.session_key == rotated.session_key
    assert first.flask_secret_key() == again.flask_secret_key()
    # A new admin token ends every session signed under the old one.
    assert first.flask_secret_key() != rotated.flask_secret_key()
    assert set(first.secret_values()) >= {WHSEC, TOKEN, ADMIN}


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
    (tmp_path / "webhook-secret").write_text(WHSEC)
    (tmp_path / "status-token").write_text(TOKEN)
    (tmp_path / "admin-token").write_text(ADMIN)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))


def test_github_webhook_secret_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _secrets(tmp_path, monkeypatch)
    assert Settings().require_secrets().github_webhook_secret is None
    (tmp_path / "github-webhook-secret").write_text(f"gh-{ADMIN}\n")
    settings = Settings().require_secrets()
    assert settings.github_webhook_secret is not None
    assert settings.github_webhook_secret.get_secret_value() == f"gh-{ADMIN}"


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


def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    """Each secret in its own file, named by GITOPS_BOT_*_FILE, as in production."""
    for name, value in {**SECRETS, **values}.items():
        (tmp_path / name).write_text(value)
        monkeypatch.setenv(f"GITOPS_BOT_{name.upper()}_FILE", str(tmp_path / name))
    monkeypatch.setenv("GITOPS_BOT_STATE_DIR", str(tmp_path / "var"))


SHORT_KEY = "whsec_" + base64.b64encode(b"x" * (MIN_KEY_BYTES - 1)).decode()


@pytest.mark.parametrize(
    "name", ["admin_token", "status_token", "webhook_secret", "github_webhook_secret"]
)
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        (" \n\t\n", "is empty"),
        ("x" * (MIN_TOKEN_CHARS - 1), "too short|not a Standard Webhooks key"),
        ("whsec_", "not a Standard Webhooks key|too short"),
    ],
    ids=["empty", "whitespace", "short", "bare-prefix"],
)
def test_an_unsafe_secret_stops_start_up_naming_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    _files(tmp_path, monkeypatch, **{name: value})
    with pytest.raises(ConfigError, match=problem) as refused:
        Settings().require_secrets()
    assert f"GITOPS_BOT_{name.upper()}_FILE" in str(refused.value)


def test_a_webhook_key_of_too_few_bytes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 38 characters, but only 23 bytes of key: the bytes are what an attacker must guess.
    _files(tmp_path, monkeypatch, webhook_secret=SHORT_KEY)
    with pytest.raises(ConfigError, match=r"too short.*GITOPS_BOT_WEBHOOK_SECRET_FILE.*24 random"):
        Settings().require_secrets()


def test_secrets_as_long_as_the_bar_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "whsec_" + base64.b64encode(b"k" * MIN_KEY_BYTES).decode().rstrip("=")
    token = "t" * MIN_TOKEN_CHARS
    _files(tmp_path, monkeypatch, webhook_secret=key, admin_token=token, status_token=token)
    settings = Settings().require_secrets()
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == token


def test_a_webhook_secret_that_is_not_base64_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"not a Standard Webhooks key.*GITOPS_BOT_WEBHOOK_SECRET"
    ):
        Settings(
            state_dir=tmp_path, **{**SECRETS, "webhook_secret": "whsec_" + "not base64!" * 4}
        ).require_secrets()


def test_an_empty_secret_from_the_environment_or_credentials_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_BOT_ADMIN_TOKEN", "   ")
    with pytest.raises(ConfigError, match="admin token is empty"):
        Settings(state_dir=tmp_path, webhook_secret=WHSEC, status_token=TOKEN).require_secrets()
    monkeypatch.delenv("GITOPS_BOT_ADMIN_TOKEN")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "github-token").write_text("\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    with pytest.raises(ConfigError, match=r"github token is empty.*'github-token'"):
        Settings(state_dir=tmp_path, **SECRETS).require_secrets()


def test_demo_mode_generates_secrets_that_meet_the_bar_but_keeps_the_bar_for_given_ones(
    tmp_path: Path,
) -> None:
    demo = Settings(demo=True, state_dir=tmp_path, notify_url="https://landing.example/h")
    settings = demo.require_secrets()
    for name in ("admin_token", "status_token", "session_key"):
        value = getattr(settings, name)
        assert value is not None
        assert len(value.get_secret_value()) >= MIN_TOKEN_CHARS
    for name in ("webhook_secret", "notify_secret"):
        value = getattr(settings, name)
        assert value is not None
        key = value.get_secret_value().removeprefix("whsec_")
        assert len(base64.b64decode(key)) >= MIN_KEY_BYTES
    with pytest.raises(ConfigError, match="admin token is empty"):
        demo.model_copy(update={"admin_token": SecretStr("")}).require_secrets()


@pytest.mark.parametrize("path", ["healthz", "/ HTTP/1.0", "/a\r\nX: y"])
def test_a_probe_path_that_would_split_the_request_line_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv("GITOPS_BOT_PROBE_PATH", path)
    with pytest.raises(ValidationError) as problem:
        Settings()
    assert explain(problem.value).startswith("GITOPS_BOT_PROBE_PATH: ")
