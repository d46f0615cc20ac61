"""Who the bot is on GitHub: a token from a file, or an App's installation tokens; never logged."""

from __future__ import annotations

import logging
from typing import Final

from github import Auth, GithubIntegration

from gitops_bot import logs
from gitops_bot.backends.ratelimit import Clock

log = logging.getLogger(__name__)

# PyGithub logs each request's answer at DEBUG, and the answer to an installation token
# request is the token itself.
_PYGITHUB_LOGGERS: Final = ("github", "github.Requester", "github.GithubRetry")
# GitHub accepts an App JWT valid for at most ten minutes; issue it a minute in the past in
# case this host's clock runs ahead of GitHub's.
_JWT_BACKDATE: Final = 60
_JWT_LIFETIME: Final = 540
# Installation tokens live an hour; a new one is fetched this long before that.
REFRESH_MARGIN: Final = 300.0


class Redactor(logging.Filter):
    """logs.redact on PyGithub's own records, before any handler sees them.

    The JSON formatter redacts too, but a record may reach a handler that is not ours
    (pytest's, an embedding application's); this filter makes sure it is clean already.
    """

    def add(self, secret: str) -> None:
        logs.protect([secret])

    def redact(self, text: str) -> str:
        return logs.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


REDACTOR: Final = Redactor()


def install_redaction() -> None:
    """Put the redactor on PyGithub's loggers (a filter applies to its own logger only)."""
    for name in _PYGITHUB_LOGGERS:
        logging.getLogger(name).addFilter(REDACTOR)  # adding it twice keeps one


def token_auth(token: str) -> Auth.Auth:
    REDACTOR.add(token)
    return Auth.Token(token)


class _AppJwt(Auth.AppAuth):
    """The App's own JWT, dated by the governor's clock rather than the wall clock."""

    def __init__(self, app_id: int, private_key: str, clock: Clock) -> None:
        super().__init__(app_id, private_key)
        self._sign = Auth.AppAuth.create_jwt_sign(private_key, "RS256")
        self._clock = clock

    def create_jwt(self, expiration: int | None = None) -> str:
        now = int(self._clock.time())
        lifetime = _JWT_LIFETIME if expiration is None else expiration
        payload = {"iat": now - _JWT_BACKDATE, "exp": now + lifetime, "iss": str(self.app_id)}
        signed = self._sign(payload)
        token = signed.decode() if isinstance(signed, bytes) else signed
        REDACTOR.add(token)
        return token


class InstallationAuth(Auth.Auth):
    """An installation's token, fetched with the App's key and fetched again before it expires.

    PyGithub's own AppInstallationAuth refreshes 20 seconds before expiry on the wall clock;
    this one refreshes minutes ahead, on the clock the rest of the backend uses, and can be
    told to drop a token GitHub refused.
    """

    def __init__(
        self,
        *,
        app_id: int,
        private_key: str,
        installation_id: int,
        base_url: str,
        clock: Clock,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self._app = _AppJwt(app_id, private_key, clock)
        self._installation_id = installation_id
        self._base_url = base_url
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetched = 0

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        if self._token is None or self._clock.time() >= self._expires_at - self._margin:
            self._refresh()
        assert self._token is not None  # noqa: S101 - _refresh sets it or raises
        return self._token

    @property
    def _masked_token(self) -> str:
        return "token (installation token removed)"

    def invalidate(self) -> None:
        """Forget the token, so that the next request fetches a new one."""
        self._token = None

    def _refresh(self) -> None:
        with GithubIntegration(
            auth=self._app,
            base_url=self._base_url,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        ) as integration:
            grant = integration.get_access_token(self._installation_id)
        REDACTOR.add(grant.token)
        self._token = grant.token
        self._expires_at = grant.expires_at.timestamp()
        self.fetched += 1
        log.info(
            "fetched a token for GitHub App installation %d, valid until %s",
            self._installation_id,
            grant.expires_at.isoformat(),
        )
