"""The fake's shared state: settings, the bare repo, the lock, tokens, limiters, faults, the log."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from fakegithub.auth import Principal, TokenStore
from fakegithub.clock import Clock
from fakegithub.faults import Faults
from fakegithub.gitrepo import BareRepo, Signature
from fakegithub.ratelimit import PrimaryLimiter, RequestLog, SecondaryLimiter
from fakegithub.state import RepoState

API_PREFIX = "/api/v3"
GRAPHQL_PATH = "/api/graphql"
DOWNLOAD_PREFIX = "/_codeload"
RAW_PREFIX = "/_raw"
REPO_ID = 700_001


@dataclass
class Settings:
    """Knobs a test may change at any time; each request reads them afresh."""

    owner: str
    repo: str
    default_branch: str = "main"
    primary_limit: int = 5000
    graphql_limit: int = 5000
    content_per_minute: int = 80
    content_per_hour: int = 500
    required_approvals: int = 0
    allow_auto_merge: bool = True
    delete_branch_on_merge: bool = False
    installation_token_ttl: float = 3600.0
    tree_truncate_limit: int = 100_000
    # GitHub's other bound on a recursive listing: the tree array's size in JSON.
    tree_truncate_bytes: int = 7 * 1024 * 1024
    # None accepts any login or team slug as a reviewer; a set makes others a 422, as GitHub
    # answers for someone who is not a collaborator.
    collaborators: frozenset[str] | None = None
    teams: frozenset[str] | None = None


@dataclass(frozen=True)
class Urls:
    root: str  # http://127.0.0.1:PORT

    @property
    def api(self) -> str:
        return self.root + API_PREFIX

    @property
    def graphql(self) -> str:
        return self.root + GRAPHQL_PATH

    def repo_api(self, settings: Settings) -> str:
        return f"{self.api}/repos/{settings.owner}/{settings.repo}"

    def html(self, settings: Settings) -> str:
        return f"{self.root}/{settings.owner}/{settings.repo}"


def fault_path(path: str) -> str:
    """The part of a request path that fault rules match: below /api/v3, or /graphql."""
    if path == GRAPHQL_PATH:
        return "/graphql"
    return path.removeprefix(API_PREFIX)


class Core:
    def __init__(self, root: Path, settings: Settings, seed: int) -> None:
        self.settings = settings
        self.clock = Clock()
        self.repo = BareRepo(root / f"{settings.repo}.git")
        # One re-entrant lock around every change to the repo or to RepoState: GitHub
        # serialises writes to a ref, and this keeps compare-and-swap plus bookkeeping atomic.
        self.lock = threading.RLock()
        self.state = RepoState()
        self.tokens = TokenStore(self.clock, seed)
        self.primary = PrimaryLimiter(self.clock)
        self.secondary = SecondaryLimiter(self.clock)
        self.log = RequestLog()
        self.faults = Faults(seed)
        self._urls: Urls | None = None
        self.downloads: dict[str, tuple[str, str, float]] = {}  # token -> (format, sha, expiry)

    @property
    def urls(self) -> Urls:
        if self._urls is None:
            raise RuntimeError("the fake GitHub is not serving yet")
        return self._urls

    @urls.setter
    def urls(self, value: Urls) -> None:
        self._urls = value

    def signature(self, principal: Principal | None) -> Signature:
        """GitHub's default author: the authenticated account, with its noreply address."""
        now = int(self.clock.time())
        if principal is None:
            return Signature("GitHub", "noreply@github.com", now)
        return Signature(
            principal.login, f"{principal.user_id}+{principal.login}@users.noreply.github.com", now
        )

    def web_flow(self) -> Signature:
        return Signature("GitHub", "noreply@github.com", int(self.clock.time()))

    def branch_sha(self, branch: str) -> str | None:
        return self.repo.ref(f"refs/heads/{branch}")

    def same_repo(self, owner: str, repo: str) -> bool:
        # GitHub's owner and repository names are case-insensitive in URLs.
        return (owner.lower(), repo.lower()) == (
            self.settings.owner.lower(),
            self.settings.repo.lower(),
        )
