"""Settings: environment variables GITOPS_BOT_*, secrets from files or systemd credentials."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gitops_bot.policy import DeliveryMode, Policy

# Secret settings and the systemd credential names they may also come from.
_SECRET_CREDENTIALS = {
    "webhook_secret": "webhook-secret",
    "status_token": "status-token",
    "admin_token": "admin-token",
    "notify_secret": "notify-secret",
    "session_key": "session-key",
    "github_token": "github-token",
    "github_app_key": "github-app-key",
    "github_webhook_secret": "github-webhook-secret",
}
# The ones the bot refuses to start without (outside demo mode). The GitHub ones are needed
# only by the GitHub backend, and the GitHub webhook's only when GitHub is told to call it.
_REQUIRED_SECRETS = ("webhook_secret", "status_token", "admin_token")
# Secrets in the Standard Webhooks format, shared with the landing page's backend.
_WHSEC = frozenset({"webhook_secret", "notify_secret"})
# Secrets whose format is GitHub's: refused only when empty.
_GITHUB_FORMAT = frozenset({"github_token", "github_app_key"})
# The shortest secrets accepted, as long as the generated ones: 32 URL-safe characters hold
# about 190 bits, a key of 24 random bytes 192. Shorter ones (a word, a test value left in
# production) may be guessed, and the bearer token can be tried without a throttle that binds.
MIN_TOKEN_CHARS: Final = 32
MIN_KEY_BYTES: Final = 24
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_REPOSITORY = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
ENV_PREFIX = "GITOPS_BOT_"


def _names(value: Any) -> Any:
    """A list from the environment: JSON, or names separated by commas ("ops, alice")."""
    if isinstance(value, str) and not value.lstrip().startswith("["):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    if isinstance(value, str):
        return json.loads(value)
    return value


Names = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_names)]


# A probe's path goes into a request line: it starts with / and holds no space or control.
PROBE_PATH = r"^/[!-~]*$"


class ProbePlan(BaseModel):
    """One plan's liveness probe: the path its tenants answer and what counts as up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(default="/", pattern=PROBE_PATH)
    expected: tuple[int, ...] = tuple(range(200, 400))


class ConfigError(Exception):
    """The bot cannot start with this configuration; the message says what to set."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment, read once at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    demo: bool = Field(
        default=False, description="Generate and print a webhook secret instead of requiring one"
    )
    webhook_secret: SecretStr | None = None
    webhook_secret_file: Path | None = None
    status_token: SecretStr | None = None
    status_token_file: Path | None = None
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for /admin and /metrics"
    )
    admin_token_file: Path | None = None
    session_key: SecretStr | None = Field(
        default=None, description="Signs admin session cookies; default: generated in state_dir"
    )
    session_key_file: Path | None = None

    notify_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Where to POST a signed tenant.status event on every state change",
    )
    notify_secret: SecretStr | None = None
    notify_secret_file: Path | None = None
    notify_attempts: int = Field(default=12, ge=1, description="Deliveries tried before giving up")
    dns_resolver: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F.:]+(@[0-9]{1,5})?$",
        description="Resolver the domain verifier asks, as ADDRESS or ADDRESS@PORT; "
        "default: the system's",
    )
    dns_timeout: float = Field(default=5.0, gt=0, description="Seconds per DNS lookup")
    domain_check_first: float = Field(
        default=30.0, ge=0, description="Seconds from a domain's request to its first DNS check"
    )
    domain_check_max_interval: float = Field(
        default=3600.0, gt=0, description="Longest wait between DNS checks (the wait doubles)"
    )
    domain_check_give_up: float = Field(
        default=7 * 86400.0, gt=0, description="Seconds after which a pending domain expires"
    )
    commit_url_template: str | None = Field(
        default=None,
        pattern=r"\{sha\}",
        description="Link to a commit in the admin view, e.g. https://github.com/o/r/commit/{sha}",
    )

    state_dir: Path = Path("var")
    database: Path | None = Field(
        default=None, description="Default: <state_dir>/gitops-bot.sqlite3"
    )
    remote: str | None = Field(
        default=None, description="Git URL of the state repo; default: a bare repo in state_dir"
    )
    branch: str = "main"
    seed_dir: Path = Field(
        default=Path(), description="Where tenants/ and nix/ come from when creating the state repo"
    )
    public_url: str | None = Field(
        default=None, description="Base of the statusUrl in answers; default: the request's host"
    )

    max_body_bytes: int = 64 * 1024
    max_queue: int = Field(default=10_000, description="Pending events before intake answers 503")
    batch_limit: int = Field(default=500, description="Events per commit at most")
    commit_window: float | None = Field(
        default=None,
        ge=0,
        description="Seconds the writer gathers events before a commit; default: 0 for a "
        "local remote, 15 for GitHub, where each commit costs API requests",
    )
    poll_interval: float = Field(default=0.05, description="Seconds between queue polls")
    host_check: bool = Field(
        default=True,
        description="Evaluate nix/ for the hosts a batch touches before committing it "
        "(needs nix-instantiate; without it the checker alone decides)",
    )
    push_attempts: int = Field(default=8, description="Rebuilds after the branch moved under us")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="SQLite durability: FULL survives power loss, NORMAL a crash"
    )

    policy: Policy = Field(default_factory=Policy)

    # The liveness probe (deploy/liveness.py): "live" means the tenant's URL answered.
    probe: bool = Field(default=True, description="Probe deployed tenants' URLs before 'live'")
    probe_evaluated: bool = Field(
        default=False,
        description="Also probe tenants whose deploy the bot cannot see (local mode, comin)",
    )
    probe_path: str = Field(
        default="/", pattern=PROBE_PATH, description="Path a live tenant answers"
    )
    probe_expected: tuple[int, ...] = Field(
        default=tuple(range(200, 400)), description="Statuses that mean 'up' (JSON list)"
    )
    probe_plans: dict[str, ProbePlan] = Field(
        default_factory=dict,
        description='Per plan: {"pro": {"path": "/healthz", "expected": [200]}} (JSON)',
    )
    probe_successes: int = Field(default=2, ge=1, description="Successes in a row for 'live'")
    probe_interval: float = Field(default=5.0, gt=0, description="Seconds between probes")
    probe_max_interval: float = Field(
        default=60.0, gt=0, description="Seconds between probes at most, backing off a failure"
    )
    probe_deadline: float = Field(
        default=900.0, gt=0, description="Seconds after the deploy before 'failed'"
    )
    probe_concurrency: int = Field(default=8, ge=1, description="Probes at a time at most")
    probe_timeout: float = Field(default=5.0, gt=0, description="Seconds per probe step")
    probe_port: int = Field(default=443, ge=1, le=65535, description="HTTPS port probed")
    probe_ca_file: Path | None = Field(
        default=None, description="CA bundle to trust instead of the system's"
    )
    probe_resolve: dict[str, str] = Field(
        default_factory=dict,
        description='Addresses to use instead of DNS: {"acme.example.com": "127.0.0.1"} (JSON)',
    )

    # Hosts that pull (inventory "deploy": "comin"): what each runs, from its exporter.
    comin_interval: float = Field(
        default=15.0, gt=0, description="Seconds between scrapes of each comin host's exporter"
    )
    comin_timeout: float = Field(
        default=3.0, gt=0, description="Seconds one scrape of a comin exporter may take in all"
    )

    # --- GitHub: the state repo's host when backend is "github" ---------------------------
    backend: Literal["local", "github"] = "local"
    github_repository: str | None = Field(
        default=None, pattern=_REPOSITORY, description="owner/name of the state repo"
    )
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_token_file: Path | None = Field(
        default=None, description="A fine-grained token: contents and pull requests, read/write"
    )
    github_app_id: int | None = None
    github_app_key: SecretStr | None = None
    github_app_key_file: Path | None = Field(default=None, description="The App's private key")
    github_installation_id: int | None = None
    github_webhook_secret: SecretStr | None = None
    github_webhook_secret_file: Path | None = None
    github_webhook_max_bytes: int = Field(
        default=5 * 1024 * 1024, description="GitHub's payloads are far larger than signups"
    )
    review_labels: Names = ()
    review_reviewers: Names = Field(default=(), description="Logins asked to review")
    review_team_reviewers: Names = Field(default=(), description="Team slugs asked to review")
    auto_merge: bool = Field(
        default=False, description="Ask GitHub to merge a review once it may; merge if it may now"
    )
    merge_method: Literal["merge", "squash", "rebase"] = "merge"
    write_interval: float = Field(default=1.0, ge=0, description="Seconds between GitHub writes")
    content_writes_per_minute: int = Field(default=60, gt=0, description="GitHub allows 80")
    content_writes_per_hour: int = Field(default=400, gt=0, description="GitHub allows 500")
    deploy_workflow: str = Field(
        default="deploy", description="Name or file name of the workflow that deploys the branch"
    )
    deploy_environment: str | None = Field(
        default=None, description="Deployment environment that counts as live; default: any"
    )

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, credential in _SECRET_CREDENTIALS.items():
            if data.get(name) is None:
                value = _read_secret(data.get(f"{name}_file"), credential)
                if value is not None:
                    data[name] = value
        return data

    @property
    def database_path(self) -> Path:
        return self.database or self.state_dir / "gitops-bot.sqlite3"

    @property
    def remote_url(self) -> str:
        return self.remote or str((self.state_dir / "state.git").resolve())

    @property
    def writer_clone(self) -> Path:
        return self.state_dir / "writer.git"

    @property
    def effective_commit_window(self) -> float:
        if self.commit_window is not None:
            return self.commit_window
        return 15.0 if self.backend == "github" else 0.0

    def delivery_for(self, event_type: str, plan: str) -> DeliveryMode:
        return self.policy.delivery_for(event_type, plan)

    def require_secrets(self, only: Sequence[str] | None = None) -> Settings:
        """These settings with every secret they need set (or just those named), or ConfigError.

        Demo mode instead creates the missing secrets once, in files under the state directory,
        so that every web worker, the writer and `send-signup` share them. The session key
        is the bot's alone (nobody else ever holds it), so it is generated in every mode.
        """
        if self.backend == "github" and only is None:
            self.require_github()
        needed = (
            list(only)
            if only is not None
            else [*_REQUIRED_SECRETS, *(["notify_secret"] if self.notify_url else [])]
        )
        missing = [name for name in needed if getattr(self, name) is None]
        if missing and not self.demo:
            name = missing[0]
            raise ConfigError(
                f"no {name.replace('_', ' ')}: set {_where(name)}, or GITOPS_BOT_DEMO=1 for a demo"
            )
        update = {name: SecretStr(self._demo_secret(name)) for name in missing}
        if self.session_key is None and only is None:
            update["session_key"] = SecretStr(_shared_secret(self.state_dir / "session-key"))
        checked = self.model_copy(update=update) if update else self
        # Every secret that is set is checked, needed or not: an empty GitHub webhook
        # secret would otherwise accept events signed with the empty key.
        for name in needed if only is not None else _SECRET_CREDENTIALS:
            value = getattr(checked, name)
            if value is not None:
                _check_secret(name, value.get_secret_value())
        return checked

    def flask_secret_key(self) -> bytes:
        """The key that signs admin session cookies.

        Bound to the admin token, so that replacing a leaked token also ends every session.
        """
        if self.session_key is None or self.admin_token is None:
            raise ConfigError("no session key or admin token: call require_secrets() first")
        return hmac.new(
            self.session_key.get_secret_value().encode(),
            self.admin_token.get_secret_value().encode(),
            hashlib.sha256,
        ).digest()

    def secret_values(self) -> list[str]:
        """Every secret these settings hold, for the log redaction to hide."""
        values = (getattr(self, name) for name in _SECRET_CREDENTIALS)
        return [value.get_secret_value() for value in values if value is not None]

    def require_github(self) -> Settings:
        """These settings if they say which repository to use and how to sign in, or ConfigError."""
        if self.github_repository is None:
            raise ConfigError("no GitHub repository: set GITOPS_BOT_GITHUB_REPOSITORY=owner/name")
        app = (self.github_app_id, self.github_app_key, self.github_installation_id)
        if self.github_token is None and None in app:
            raise ConfigError(
                "no GitHub credentials: set GITOPS_BOT_GITHUB_TOKEN_FILE (or the systemd "
                "credential 'github-token'), or GITOPS_BOT_GITHUB_APP_ID, "
                "GITOPS_BOT_GITHUB_APP_KEY_FILE (or credential 'github-app-key') and "
                "GITOPS_BOT_GITHUB_INSTALLATION_ID"
            )
        return self

    def demo_secret_path(self, name: str) -> Path:
        return self.state_dir / "demo-secrets" / _SECRET_CREDENTIALS[name]

    def _demo_secret(self, name: str) -> str:
        return _shared_secret(self.demo_secret_path(name), whsec=name in _WHSEC)


def environment_variable(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def environment_variables() -> list[tuple[str, str]]:
    """Every variable Settings reads, with its description, for the command line's help."""
    return [
        (environment_variable(name), field.description or "")
        for name, field in Settings.model_fields.items()
    ]


def explain(problem: ValidationError) -> str:
    """Settings' errors by the variable that was set, not pydantic's field name.

    The value is never repeated: it may be a secret.
    """
    lines = []
    for error in problem.errors(include_url=False, include_input=False):
        where = [str(part) for part in error["loc"]]
        name = environment_variable(where[0]) if where else ENV_PREFIX + "*"
        inner = f" ({'.'.join(where[1:])})" if len(where) > 1 else ""
        lines.append(f"{name}{inner}: {error['msg']}")
    return "; ".join(lines)


def _where(name: str) -> str:
    return (
        f"GITOPS_BOT_{name.upper()}_FILE (or the systemd credential '{_SECRET_CREDENTIALS[name]}')"
    )


def _check_secret(name: str, value: str) -> None:
    """ConfigError, naming where the secret comes from, if `value` is not safe to use."""
    label = name.replace("_", " ")
    if not value.strip():
        raise ConfigError(f"the {label} is empty: put one in {_where(name)}")
    if name in _GITHUB_FORMAT:
        return
    if name in _WHSEC:
        key = value.removeprefix("whsec_")
        try:
            # Padding is optional, as the Standard Webhooks library reads it.
            decoded = base64.b64decode(key + "=" * (-len(key) % 4), validate=True)
        except binascii.Error:
            decoded = None
        if not _BASE64.fullmatch(key) or decoded is None:
            raise ConfigError(
                f"the {label} is not a Standard Webhooks key (whsec_ and base64): "
                f"fix {_where(name)}"
            )
        if len(decoded) < MIN_KEY_BYTES:
            raise ConfigError(
                f"the {label} is too short: {_where(name)} must hold at least "
                f"{MIN_KEY_BYTES} random bytes after base64-decoding "
                '(e.g. "whsec_$(openssl rand -base64 32)")'
            )
        return
    if len(value) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the {label} is too short: {_where(name)} must hold at least "
            f"{MIN_TOKEN_CHARS} characters (e.g. from `openssl rand -base64 32`)"
        )


def _shared_secret(path: Path, *, whsec: bool = False) -> str:
    """The secret in `path`, created first if missing, so that every process shares it."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = (
        "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
        if whsec
        else secrets.token_urlsafe(24)
    )
    # Written aside and linked into place: link fails if the file exists, so when two
    # processes start at once, both end up with the first one's complete secret.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(value + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink()
    return value


def _read_secret(path: str | Path | None, credential: str) -> str | None:
    if path is None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory or not (Path(directory) / credential).is_file():
            return None
        path = Path(directory) / credential
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"cannot read secret file {path}: {error.strerror}") from None
