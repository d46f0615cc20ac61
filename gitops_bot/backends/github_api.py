"""The one door to GitHub's API: every PyGithub call paced by the governor and retried when safe."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from github import Auth, Github, GithubException
from github.Repository import Repository

from gitops_bot.backends.base import BackendError
from gitops_bot.backends.github_auth import (
    REDACTOR,
    InstallationAuth,
    install_redaction,
    token_auth,
)
from gitops_bot.backends.ratelimit import Clock, Governor, Limits, SystemClock
from gitops_bot.store.counters import Counters

if TYPE_CHECKING:
    from gitops_bot.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Attempts at one request before the writer is told GitHub is failing; it then backs off.
MAX_ATTEMPTS: Final = 6
_TIMEOUT: Final = 30
# GitHub's largest page: a listing costs a request per hundred, not per thirty.
PER_PAGE: Final = 100
_UNAUTHORIZED: Final = 401


class ApiError(BackendError):
    """GitHub answered a request with an error that retrying the same request cannot fix.

    The message carries GitHub's own words and never a header or a token.
    """

    def __init__(self, what: str, status: int, message: str) -> None:
        super().__init__(f"{what}: GitHub answered {status}: {message}")
        self.status = status
        self.message = message


class GitHubApi:
    """PyGithub for one repository, with its own pacing and retries switched off.

    PyGithub sleeps on the wall clock between requests, does not retry a PATCH, and retries a
    POST that may have been applied (a second pull request). Here the governor paces every
    request on one clock, and each caller's request is retried only because it is idempotent.
    """

    def __init__(
        self,
        *,
        base_url: str,
        repository: str,
        auth: Auth.Auth,
        governor: Governor,
        counters: Counters | None = None,
    ) -> None:
        install_redaction()
        self.auth = auth
        self.governor = governor
        self.counters = counters
        self.github = Github(
            base_url=base_url,
            auth=auth,
            timeout=_TIMEOUT,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,  # objects are fetched when read, so each call below is one request
            per_page=PER_PAGE,
        )
        self.repo: Repository = self.github.get_repo(repository)
        self.owner = repository.partition("/")[0]
        self.full_name = repository

    def close(self) -> None:
        self.github.close()

    def call(self, what: str, request: Callable[[], T], *, write: bool) -> T:
        """The result of `request` (one API request), waiting and retrying as GitHub asks.

        ApiError for an answer that retrying cannot change (a 404, a 422); BackendError
        when GitHub kept failing or limiting.
        """
        refreshed, last = False, "no answer"
        kind = "write" if write else "read"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            waited = self.governor.waited
            self.governor.before(write=write)
            if self.counters is not None:
                self.counters.record_github_request(kind)
                if self.governor.waited > waited:
                    self.counters.record_rate_limit_wait(self.governor.waited - waited)
            try:
                result = request()
            except GithubException as failure:
                self._observe(failure.headers)
                status, message = failure.status, _message(failure.data)
                if (
                    status == _UNAUTHORIZED
                    and isinstance(self.auth, InstallationAuth)
                    and not refreshed
                ):
                    # A revoked or early-expired installation token: fetch one and try again.
                    self.auth.invalidate()
                    refreshed = True
                    continue
                wait = self._wait_for(status, message, failure.headers)
                if wait is None:
                    raise ApiError(what, status, message) from None
                log.warning(
                    "%s: GitHub answered %d (%s); attempt %d of %d, next in %.1fs",
                    what,
                    status,
                    message,
                    attempt,
                    MAX_ATTEMPTS,
                    wait,
                )
                last = f"{status} {message}"
            except OSError as failure:  # requests' connection errors are OSErrors
                wait = self.governor.transient_failure()
                last = REDACTOR.redact(type(failure).__name__)
                log.warning(
                    "%s: %s; attempt %d of %d, next in %.1fs",
                    what,
                    last,
                    attempt,
                    MAX_ATTEMPTS,
                    wait,
                )
            else:
                self._observe_last()
                self.governor.succeeded()
                return result
            finally:
                self.governor.finished(write=write)
        raise BackendError(f"{what}: GitHub kept failing after {MAX_ATTEMPTS} attempts ({last})")

    def _wait_for(
        self, status: int, message: str, headers: Mapping[str, Any] | None
    ) -> float | None:
        """How long to hold before retrying, or None when retrying cannot help."""
        header = {key.lower(): value for key, value in (headers or {}).items()}
        retry_after = _number(header.get("retry-after"))
        if status in {403, 429} and (
            retry_after is not None or "secondary rate limit" in message.lower()
        ):
            return self.governor.secondary_limit(retry_after)
        if status in {403, 429} and header.get("x-ratelimit-remaining") == "0":
            return max(self.governor.delay(write=False), 1.0)  # _observe held until the reset
        if status >= 500:  # noqa: PLR2004
            return self.governor.transient_failure()
        return None

    def _observe(self, headers: Mapping[str, Any] | None) -> None:
        header = {key.lower(): value for key, value in (headers or {}).items()}
        remaining = _number(header.get("x-ratelimit-remaining"))
        self.governor.observe(
            None if remaining is None else int(remaining), _number(header.get("x-ratelimit-reset"))
        )

    def _observe_last(self) -> None:
        # PyGithub keeps the last answer's x-ratelimit-remaining and -reset on its requester.
        remaining, _limit = self.github.requester.rate_limiting
        reset = self.github.requester.rate_limiting_resettime
        if remaining >= 0 and reset:
            self.governor.observe(remaining, float(reset))


def _number(value: object) -> float | None:
    try:
        return None if value is None else float(str(value))
    except ValueError:
        return None


def _message(data: object) -> str:
    """GitHub's explanation in an error answer: its message, and the first detailed error."""
    if not isinstance(data, dict):
        return REDACTOR.redact(str(data))[:300]
    parts = [str(data.get("message") or "")]
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        parts.append(str(first.get("message") or first) if isinstance(first, dict) else str(first))
    return REDACTOR.redact(": ".join(p for p in parts if p))[:300]


def connect(settings: Settings, *, clock: Clock | None = None) -> GitHubApi:
    """The door to the settings' repository, signed in as they say, paced as they say."""
    settings.require_github()
    clock = clock or SystemClock()
    auth: Auth.Auth
    if settings.github_token is not None:
        auth = token_auth(settings.github_token.get_secret_value())
    else:
        assert settings.github_app_id is not None  # noqa: S101 - require_github checked them
        assert settings.github_app_key is not None  # noqa: S101
        assert settings.github_installation_id is not None  # noqa: S101
        auth = InstallationAuth(
            app_id=settings.github_app_id,
            private_key=settings.github_app_key.get_secret_value(),
            installation_id=settings.github_installation_id,
            base_url=settings.github_api_url,
            clock=clock,
        )
    limits = Limits(
        write_interval=settings.write_interval,
        per_minute=settings.content_writes_per_minute,
        per_hour=settings.content_writes_per_hour,
    )
    assert settings.github_repository is not None  # noqa: S101
    return GitHubApi(
        base_url=settings.github_api_url,
        repository=settings.github_repository,
        auth=auth,
        governor=Governor(limits, clock),
        counters=Counters(settings.database_path),
    )
