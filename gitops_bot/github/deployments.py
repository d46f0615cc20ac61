"""GitHub Deployments: one per deploy run, so the bot's /webhooks/github learns what went live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from github.Deployment import Deployment
    from github.Repository import Repository

PAYLOAD_VERSION: Final = 1
# GitHub shows one environment_url per status: a success status per new tenant links each one,
# up to this many; the payload always lists them all.
MAX_URL_STATUSES: Final = 10
DEFAULT_API_URL: Final = "https://api.github.com"


class ReportError(Exception):
    """GitHub refused or did not answer a Deployments call."""


@dataclass(frozen=True)
class NewTenant:
    """A tenant whose file the deploy brings to its host for the first time."""

    slug: str
    host: str
    url: str


class DeploymentsAPI(Protocol):
    """The two calls of GitHub's Deployments API this module makes."""

    def create(
        self, *, ref: str, environment: str, payload: dict[str, Any], description: str
    ) -> int: ...

    def create_status(
        self,
        deployment_id: int,
        *,
        state: str,
        description: str,
        environment_url: str | None,
        log_url: str | None,
    ) -> None: ...


def payload(
    *, head: str, engine: str, hosts: Mapping[str, str | None], new_tenants: Sequence[NewTenant]
) -> dict[str, Any]:
    """What the bot's webhook reads: each host with the commit it ran before, and new tenants."""
    return {
        "gitopsBot": PAYLOAD_VERSION,
        "engine": engine,
        "head": head,
        "hosts": [{"name": name, "base": base} for name, base in sorted(hosts.items())],
        "newTenants": [{"slug": t.slug, "host": t.host, "url": t.url} for t in new_tenants],
    }


class Reporter:
    """Creates the run's Deployment before the engine starts, then reports how it ended.

    Without an API (a local run), every call does nothing.
    """

    def __init__(
        self,
        api: DeploymentsAPI | None,
        *,
        environment: str = "production",
        log_url: str | None = None,
    ) -> None:
        self.api, self.environment, self.log_url = api, environment, log_url
        self.deployment_id: int | None = None
        self.hosts: tuple[str, ...] = ()
        self.new_tenants: tuple[NewTenant, ...] = ()

    def start(
        self,
        *,
        head: str,
        engine: str,
        hosts: Mapping[str, str | None],
        new_tenants: Sequence[NewTenant],
    ) -> None:
        self.hosts, self.new_tenants = tuple(sorted(hosts)), tuple(new_tenants)
        if self.api is None:
            return
        self.deployment_id = self.api.create(
            ref=head,
            environment=self.environment,
            payload=payload(head=head, engine=engine, hosts=hosts, new_tenants=new_tenants),
            description=f"{engine}: {', '.join(self.hosts)}"[:140],
        )
        self._status("in_progress", f"deploying {', '.join(self.hosts)}")

    def succeed(self) -> None:
        shown = self.new_tenants[:MAX_URL_STATUSES]
        for tenant in shown:
            self._status("success", f"{tenant.slug} is live on {tenant.host}", url=tenant.url)
        more = len(self.new_tenants) - len(shown)
        if more or not shown:
            extra = f"; {more} more new tenant(s) in the payload" if more else ""
            self._status("success", f"deployed {len(self.hosts)} host(s){extra}")

    def fail(self, reason: str) -> None:
        self._status("failure", reason)

    def _status(self, state: str, description: str, *, url: str | None = None) -> None:
        if self.api is None or self.deployment_id is None:
            return
        self.api.create_status(
            self.deployment_id,
            state=state,
            description=description[:140],  # GitHub's limit
            environment_url=url,
            log_url=self.log_url,
        )


class GitHubDeployments:
    """DeploymentsAPI over PyGithub."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.deployments: dict[int, Deployment] = {}

    @classmethod
    def connect(cls, *, api_url: str, token: str, repository: str) -> GitHubDeployments:
        from github import Auth, Github  # noqa: PLC0415 - only deploys with a token need it

        client = Github(base_url=api_url, auth=Auth.Token(token), lazy=True)
        return cls(client.get_repo(repository))

    def create(
        self, *, ref: str, environment: str, payload: dict[str, Any], description: str
    ) -> int:
        from github import GithubException  # noqa: PLC0415

        try:
            deployment = self.repo.create_deployment(
                ref=ref,
                environment=environment,
                payload=payload,
                description=description,
                auto_merge=False,  # deploy exactly this commit, never a merge of it
                required_contexts=[],  # the push already passed validate; do not re-gate
                production_environment=environment == "production",
            )
        except (GithubException, OSError) as error:
            raise ReportError(f"creating the deployment failed: {error}") from error
        self.deployments[deployment.id] = deployment
        return deployment.id

    def create_status(
        self,
        deployment_id: int,
        *,
        state: str,
        description: str,
        environment_url: str | None,
        log_url: str | None,
    ) -> None:
        from github import GithubException  # noqa: PLC0415
        from github.GithubObject import NotSet  # noqa: PLC0415

        try:
            self.deployments[deployment_id].create_status(
                state,
                target_url=log_url or NotSet,  # sent as target_url, which GitHub calls log_url
                description=description,
                environment_url=environment_url or NotSet,
            )
        except (GithubException, OSError) as error:
            raise ReportError(f"deployment status {state!r} failed: {error}") from error


def api_from_environ(environ: Mapping[str, str]) -> tuple[DeploymentsAPI | None, str]:
    """The API the environment allows (as in GitHub Actions), and a line saying which."""
    token, repository = environ.get("GITHUB_TOKEN"), environ.get("GITHUB_REPOSITORY")
    if not token or not repository:
        return None, "GitHub Deployments: skipped (GITHUB_TOKEN and GITHUB_REPOSITORY are not set)"
    api_url = environ.get("GITHUB_API_URL") or DEFAULT_API_URL
    api = GitHubDeployments.connect(api_url=api_url, token=token, repository=repository)
    return api, f"GitHub Deployments: {repository} at {api_url}"


def log_url(environ: Mapping[str, str]) -> str | None:
    """The Actions run's page, when running in GitHub Actions."""
    server, repository, run_id = (
        environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repository and run_id):
        return None
    return f"{server}/{repository}/actions/runs/{run_id}"
