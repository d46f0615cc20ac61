"""Who may call the fake: personal tokens, GitHub App JWTs, and installation tokens that expire."""

from __future__ import annotations

import random
import string
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt

from fakegithub.clock import Clock

PrincipalKind = Literal["user", "installation", "app"]

# GitHub accepts an app JWT whose exp is at most ten minutes ahead; allow a little clock drift.
MAX_JWT_LIFETIME = 600
CLOCK_DRIFT = 60


class AuthError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    login: str
    kind: PrincipalKind
    installation_id: int | None = None
    app_id: int | None = None

    @property
    def user_id(self) -> int:
        return user_id(self.login)

    @property
    def rate_key(self) -> str:
        # GitHub meters an installation's tokens together, and a user's tokens together.
        if self.installation_id is not None:
            return f"installation:{self.installation_id}"
        return f"{self.kind}:{self.login}"


def user_id(login: str) -> int:
    """Stable ids derived from logins, so JSON is reproducible run to run."""
    return zlib.crc32(login.encode()) % 90_000_000 + 10_000_000


@dataclass
class TokenRecord:
    token: str
    principal: Principal
    expires_at: float | None  # fake-clock epoch seconds; None never expires


@dataclass
class App:
    app_id: int
    slug: str
    public_key: str
    installation_id: int
    permissions: dict[str, str] = field(default_factory=dict)

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


class TokenStore:
    def __init__(self, clock: Clock, seed: int) -> None:
        self._clock = clock
        # Its own Random: issuing tokens must not shift the fault injector's random sequence.
        self._rng = random.Random(seed)
        self._tokens: dict[str, TokenRecord] = {}
        self._apps: dict[int, App] = {}
        self._lock = threading.Lock()

    def new_token(self, prefix: str) -> str:
        with self._lock:
            alphabet = string.ascii_letters + string.digits
            return prefix + "".join(self._rng.choice(alphabet) for _ in range(36))

    def add(
        self, token: str, principal: Principal, *, expires_at: float | None = None
    ) -> TokenRecord:
        record = TokenRecord(token, principal, expires_at)
        with self._lock:
            self._tokens[token] = record
        return record

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def lookup(self, token: str) -> Principal | None:
        with self._lock:
            record = self._tokens.get(token)
        if record is None:
            return None
        if record.expires_at is not None and self._clock.time() >= record.expires_at:
            return None
        return record.principal

    def register_app(self, app: App) -> None:
        with self._lock:
            self._apps[app.app_id] = app

    def app_for_installation(self, installation_id: int) -> App | None:
        with self._lock:
            return next(
                (a for a in self._apps.values() if a.installation_id == installation_id), None
            )

    def app(self, app_id: int) -> App | None:
        with self._lock:
            return self._apps.get(app_id)

    def verify_jwt(self, token: str) -> App:
        """Check an app JWT the way GitHub documents: RS256, iss is the app id, exp <= 10 min."""
        try:
            claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
            issuer = int(claims["iss"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise AuthError("A JSON web token could not be decoded") from exc
        app = self.app(issuer)
        if app is None:
            raise AuthError("Integration not found")
        try:
            # Times are checked below against the fake clock, which tests may have advanced.
            claims = jwt.decode(
                token,
                app.public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["exp", "iat", "iss"],
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError("A JSON web token could not be decoded") from exc
        now = self._clock.time()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int) or iat > now + CLOCK_DRIFT:
            raise AuthError(
                "'Issued at' claim ('iat') must be an Integer representing the time that the "
                "assertion was issued."
            )
        if not isinstance(exp, int) or exp <= now:
            raise AuthError(
                "'Expiration time' claim ('exp') must be a numeric value representing the future "
                "time at which the assertion expires."
            )
        if exp > now + MAX_JWT_LIFETIME + CLOCK_DRIFT:
            raise AuthError("'Expiration time' claim ('exp') is too far in the future")
        return app
