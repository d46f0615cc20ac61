"""Shared fixtures: isolated git, state repos (bare, and on a fake GitHub), settings and apps."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from github import Github
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr

from fake_engine import FakeEngine
from fakegithub import FakeGitHub
from gitops_bot.backends.github import GitHubRepo
from gitops_bot.backends.gitrepo import ISOLATED_ENV
from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.policy import Policy
from gitops_bot.server.app import create_app
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer
from helpers import (
    ADMIN_TOKEN,
    GITHUB_WEBHOOK_SECRET,
    ROOT,
    SECRET,
    STATUS_TOKEN,
    FakeGitHubClock,
    Server,
    find_browser,
    repo_for,
    rsa_key_pair,
    running_bot,
    seed_files,
    seed_state_repo,
)
from reliability import soak_scale

# No deadlines: two shared cores make any per-example time limit flaky. `make soak` runs the
# property tests again with SOAK_SCALE times the examples.
hypothesis_settings.register_profile(
    "gitops-bot",
    deadline=None,
    max_examples=100 * soak_scale(),
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile("gitops-bot")


def pytest_configure(config: pytest.Config) -> None:
    # `make test` sets REQUIRE_NIX so that a missing nix-instantiate fails CI instead of
    # quietly skipping every Nix test.
    if os.environ.get("REQUIRE_NIX") and shutil.which("nix-instantiate") is None:
        raise pytest.UsageError("REQUIRE_NIX is set but nix-instantiate is not on PATH")
    # Likewise REQUIRE_BROWSER: the admin page's browser test must run in CI, not skip.
    if os.environ.get("REQUIRE_BROWSER") and find_browser() is None:
        raise pytest.UsageError("REQUIRE_BROWSER is set but no chromium is installed")
    # REQUIRE_SYSTEM_TOOLS: the nginx and socket-activation tests use Debian's own programs.
    if os.environ.get("REQUIRE_SYSTEM_TOOLS"):
        for tool in ("nginx", "systemd-socket-activate"):
            if shutil.which(tool, path=f"{os.environ.get('PATH', '')}:/usr/sbin") is None:
                raise pytest.UsageError(f"REQUIRE_SYSTEM_TOOLS is set but {tool} is missing")
    # And REQUIRE_NIXPKGS_LIB: the module tests run the real lib.evalModules in CI.
    lib = os.environ.get("NIXPKGS_LIB", "")
    if os.environ.get("REQUIRE_NIXPKGS_LIB") and not Path(lib, "default.nix").is_file():
        raise pytest.UsageError(f"REQUIRE_NIXPKGS_LIB is set but NIXPKGS_LIB={lib!r} is no lib/")


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's ~/.gitconfig out of every git the tests run, ours and the bot's."""
    for key, value in ISOLATED_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for key in [k for k in os.environ if k.startswith("GITOPS_BOT_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    """A copy of this repo's tenants/ and nix/, for tests to change freely."""
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "tenants", seed / "tenants")
    shutil.copytree(ROOT / "nix", seed / "nix", ignore=shutil.ignore_patterns("tests"))
    return seed


@pytest.fixture
def settings(tmp_path: Path, seed_dir: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "var",
        seed_dir=seed_dir,
        webhook_secret=SECRET,
        status_token=STATUS_TOKEN,
        admin_token=ADMIN_TOKEN,
        poll_interval=0.01,
        synchronous="NORMAL",
    )


@pytest.fixture
def state_repo(settings: Settings) -> Path:
    """The bare remote the bot writes to, seeded by the writer's first read."""
    return seed_state_repo(settings)


@pytest.fixture
def store(settings: Settings, state_repo: Path) -> Iterator[Store]:
    with Store(settings.database_path) as opened:
        yield opened


@pytest.fixture
def writer(settings: Settings, store: Store) -> Iterator[Writer]:
    repo = repo_for(settings)
    yield Writer(store=store, repo=repo, settings=settings)
    repo.close()


@pytest.fixture
def clone(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., LocalGitRepo]]:
    """Another clone of a state repo (another writer, a reviewer), closed after the test."""
    opened: list[LocalGitRepo] = []

    def open_clone(name: str = "other.git", remote: str | None = None) -> LocalGitRepo:
        repo = LocalGitRepo(remote or settings.remote_url, tmp_path / name)
        opened.append(repo)
        return repo

    yield open_clone
    for repo in opened:
        repo.close()


@pytest.fixture
def app(settings: Settings, state_repo: Path) -> Flask:
    flask_app = create_app(settings)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    """`gitops-bot serve` (gunicorn and the writer) on a free 127.0.0.1 port."""
    inventory_path = settings.seed_dir / "nix/inventory.json"
    inventory = json.loads(inventory_path.read_text())
    for host in inventory["hosts"].values():
        # The examples' 200 seats would refuse the load suites' signups (5,000 under make soak).
        host["capacity"] = 100_000
    inventory_path.write_text(json.dumps(inventory))
    with running_bot(settings, tmp_path) as running:
        yield running


@pytest.fixture
def fake_github(tmp_path: Path) -> Iterator[FakeGitHub]:
    """A fake GitHub on a real 127.0.0.1 port, backed by a real bare repo."""
    with FakeGitHub(tmp_path / "github", owner="acme-ops", repo="fleet-state") as gh:
        gh.seed({"tenants/acme.json": b'{"slug": "acme"}\n', "nix/inventory.json": b"{}\n"})
        yield gh


@pytest.fixture
def github_client(fake_github: FakeGitHub) -> Iterator[Github]:
    """PyGithub without retries or pacing, so each answer of the fake is seen raw and fast."""
    client = fake_github.client()
    yield client
    client.close()


@pytest.fixture
def fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """`nixops` and `colmena` on PATH that record their arguments and fail on demand."""
    return FakeEngine(tmp_path / "engine", monkeypatch)


@pytest.fixture
def fleet(tmp_path: Path, seed_dir: Path) -> Iterator[FakeGitHub]:
    """A fake GitHub whose state repo holds this repo's tenants/ and nix/inventory.json."""
    with FakeGitHub(tmp_path / "fleet", owner="acme-ops", repo="fleet-state") as gh:
        gh.seed(seed_files(seed_dir), message="Seed the state repo")
        yield gh


@pytest.fixture
def github_clock(fleet: FakeGitHub) -> FakeGitHubClock:
    return FakeGitHubClock(fleet)


@pytest.fixture
def github_settings(settings: Settings, fleet: FakeGitHub) -> Settings:
    """The GitHub backend on `fleet`: free and pro direct, enterprise by pull request.

    The governor keeps its real defaults; it runs on `github_clock`, so waits cost no time.
    """
    return settings.model_copy(
        update={
            "backend": "github",
            "commit_window": 0.0,  # tests commit at once; test_github_writer checks the window
            "github_repository": fleet.full_name,
            "github_api_url": fleet.base_url,
            "github_token": SecretStr(fleet.token),
            "github_webhook_secret": SecretStr(GITHUB_WEBHOOK_SECRET),
            "policy": Policy(plans={"enterprise": "pr"}),
            "review_labels": ("tenant",),
            "review_reviewers": ("alice",),
            "review_team_reviewers": ("ops",),
        }
    )


@pytest.fixture
def github_state_repo(github_settings: Settings, github_clock: FakeGitHubClock) -> GitHubRepo:
    """The GitHub backend, after a writer's first read synced the queue with `fleet`."""
    repo = GitHubRepo.from_settings(github_settings, clock=github_clock)
    with Store(github_settings.database_path) as store:
        store.migrate()
        Writer(store=store, repo=repo, settings=github_settings).head()
    return repo


@pytest.fixture
def github_store(github_settings: Settings, github_state_repo: GitHubRepo) -> Iterator[Store]:
    with Store(github_settings.database_path) as opened:
        yield opened


@pytest.fixture
def github_writer(
    github_settings: Settings, github_store: Store, github_state_repo: GitHubRepo
) -> Writer:
    return Writer(store=github_store, repo=github_state_repo, settings=github_settings)


@pytest.fixture
def github_intake(github_settings: Settings, github_state_repo: GitHubRepo) -> FlaskClient:
    """The web app of a bot whose state repo is on `fleet`."""
    flask_app = create_app(github_settings)
    flask_app.config["TESTING"] = True
    return flask_app.test_client()


@pytest.fixture(scope="session")
def app_key() -> tuple[str, bytes]:
    """One GitHub App key pair for the whole run: generating RSA keys is slow."""
    return rsa_key_pair()
