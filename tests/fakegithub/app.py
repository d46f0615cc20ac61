"""The WSGI app: routing, authentication, rate limits, fault injection and the request log."""

from __future__ import annotations

import itertools
import json
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from fakegithub import (
    routes_contents,
    routes_deploy,
    routes_git,
    routes_issues,
    routes_meta,
    routes_pulls,
    routes_repo,
    routes_reviews,
)
from fakegithub.auth import AuthError, Principal
from fakegithub.core import API_PREFIX, GRAPHQL_PATH, Core, fault_path
from fakegithub.faults import FaultRule
from fakegithub.ratelimit import Bucket, RequestRecord, Violation
from fakegithub.web import ApiError, Ctx, Route, build_map, not_found

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

RATE_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
SECONDARY_DOCS = RATE_DOCS + "#about-secondary-rate-limits"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {rid}."
)
ANONYMOUS_LIMIT = 60
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
NOBODY = Principal("", "user")


@dataclass
class _Seen:
    """What the log and the response headers need to know about one request."""

    arrived: float
    rid: str
    principal: Principal | None = None
    bucket: Bucket | None = None
    content: bool = False
    fault: str | None = None


class FakeApp:
    def __init__(self, core: Core) -> None:
        self.core = core
        routers = [
            routes_git,
            routes_repo,
            routes_contents,
            routes_pulls,
            routes_reviews,
            routes_issues,
            routes_deploy,
            routes_meta,
        ]
        self.map, self.endpoints = build_map([m.router for m in routers])
        self.internal_errors: list[str] = []
        self._request_ids = itertools.count(1)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:
        core = self.core
        seen = _Seen(arrived=core.clock.monotonic(), rid=f"FAKE:{next(self._request_ids):08d}")
        latency = core.faults.draw(["latency"], request.method, fault_path(request.path))
        if latency is not None:
            seen.fault = latency.kind
            time.sleep(latency.latency)  # real time: the client should feel it
        try:
            response = self._respond(request, seen)
        except ApiError as err:
            if seen.bucket is None and err.status == 401:
                anonymous = f"anonymous:{request.remote_addr}"
                seen.bucket = core.primary.consume(anonymous, "core", ANONYMOUS_LIMIT)[1]
            response = err.response()
        except Exception:  # noqa: BLE001 - a bug in the fake must reach the test, not the socket
            self.internal_errors.append(traceback.format_exc())
            response = ApiError(500, "The fake GitHub failed; see internal_errors").response()
        response.headers["x-github-request-id"] = seen.rid
        response.headers["x-github-api-version-selected"] = "2022-11-28"
        if seen.bucket is not None:
            for key, value in seen.bucket.headers().items():
                response.headers.setdefault(key, value)
        core.log.add(
            RequestRecord(
                request.method,
                request.path,
                response.status_code,
                seen.arrived,
                seen.content,
                seen.principal.login if seen.principal else None,
                seen.fault,
            )
        )
        return response

    def _respond(self, request: Request, seen: _Seen) -> Response:
        core, method, short = self.core, request.method, fault_path(request.path)
        route, args = self._match(request)
        if route.auth == "none":
            return route.handler(Ctx(core, request, NOBODY, args))
        seen.principal, seen.bucket = self._admit(request, route)
        seen.content = self._content_creating(request)
        rule = core.faults.draw(["status", "secondary_limit"], method, short)
        if rule is not None and not (rule.kind == "status" and rule.applied):
            seen.fault = rule.kind
            return _fault_error(rule, seen.rid).response()
        if seen.content:
            self._check_secondary(seen.principal, method, short, seen.rid)
        response = route.handler(Ctx(core, request, seen.principal, args))
        if rule is not None:
            # The change went through, but the client is told it failed.
            seen.fault = "status_applied"
            return _fault_error(rule, seen.rid).response()
        return response

    def _match(self, request: Request) -> tuple[Route, dict[str, str]]:
        try:
            endpoint, args = self.map.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            # GitHub answers 404, not 405, for a method a path does not support.
            raise not_found() from exc
        route = self.endpoints[str(endpoint)]
        values = {k: str(v) for k, v in args.items()}
        in_repo = "owner" in values and "repo" in values and route.auth != "none"
        if in_repo and not self.core.same_repo(values["owner"], values["repo"]):
            raise not_found()
        return route, values

    def _admit(self, request: Request, route: Route) -> tuple[Principal, Bucket]:
        principal = self._authenticate(request, route)
        core = self.core
        resource = "graphql" if request.path == GRAPHQL_PATH else "core"
        limit = (
            core.settings.graphql_limit if resource == "graphql" else core.settings.primary_limit
        )
        if request.path == API_PREFIX + "/rate_limit":
            # Documented: asking for the rate limit does not count against it.
            return principal, core.primary.peek(principal.rate_key, resource, limit)
        allowed, bucket = core.primary.consume(principal.rate_key, resource, limit)
        if not allowed:
            raise ApiError(
                403,
                f"API rate limit exceeded for user ID {principal.user_id}.",
                documentation_url=RATE_DOCS,
                headers=bucket.headers(),
            )
        return principal, bucket

    def _authenticate(self, request: Request, route: Route) -> Principal:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        scheme, credential = scheme.lower(), credential.strip()
        if scheme not in {"token", "bearer"} or not credential:
            raise ApiError(401, "Requires authentication")
        if route.auth == "jwt":
            if scheme != "bearer":
                raise ApiError(401, "A JSON web token could not be decoded")
            try:
                app = self.core.tokens.verify_jwt(credential)
            except AuthError as exc:
                raise ApiError(401, exc.message) from exc
            return Principal(app.slug, "app", None, app.app_id)
        principal = self.core.tokens.lookup(credential)
        if principal is None:
            raise ApiError(401, "Bad credentials")
        return principal

    def _content_creating(self, request: Request) -> bool:
        if request.method not in WRITE_METHODS:
            return False
        if request.path == GRAPHQL_PATH:
            try:
                return routes_meta.is_mutation(json.loads(request.get_data() or b"{}").get("query"))
            except (ValueError, AttributeError):
                return False
        return request.path.startswith(API_PREFIX + "/repos/")

    def _check_secondary(self, principal: Principal, method: str, path: str, rid: str) -> None:
        s = self.core.settings
        refused = self.core.secondary.admit(
            principal.rate_key, s.content_per_minute, s.content_per_hour
        )
        if refused is None:
            return
        window, limit, retry_after = refused
        self.core.log.add_violation(
            Violation(
                self.core.clock.monotonic(),
                method,
                path,
                principal.login,
                window,
                limit,
                retry_after,
            )
        )
        raise ApiError(
            403,
            SECONDARY_MESSAGE.format(rid=rid),
            documentation_url=SECONDARY_DOCS,
            headers={"retry-after": str(retry_after)},
        )


def _fault_error(rule: FaultRule, rid: str) -> ApiError:
    if rule.kind == "secondary_limit":
        return ApiError(
            rule.status,
            SECONDARY_MESSAGE.format(rid=rid),
            documentation_url=SECONDARY_DOCS,
            headers={"retry-after": str(rule.retry_after)},
        )
    # What GitHub's front end says when the backend behind it is unavailable.
    messages = {
        502: "Server Error",
        503: "Service Unavailable",
        504: "We couldn't respond to your request in time.",
    }
    return ApiError(rule.status, messages.get(rule.status, "Server Error"))
