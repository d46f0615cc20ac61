"""HTTP plumbing for the routes: the router, JSON responses, GitHub-shaped errors, pagination."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from fakegithub.auth import Principal
from fakegithub.core import Core

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """Raised anywhere in a handler; the app turns it into GitHub's error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {
            "message": self.message,
            "documentation_url": self.documentation_url,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, self.status, self.headers)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def validation_failed(*errors: dict[str, Any]) -> ApiError:
    return ApiError(422, "Validation Failed", errors=list(errors))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        json.dumps(data), status=status, content_type="application/json; charset=utf-8"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def no_content() -> Response:
    return Response(status=204)


@dataclass
class Ctx:
    core: Core
    request: Request
    principal: Principal
    args: dict[str, str] = field(default_factory=dict)
    _body: Any = None

    def body(self) -> Any:
        if self._body is None:
            raw = self.request.get_data()
            if not raw.strip():
                self._body = {}
            else:
                try:
                    self._body = json.loads(raw)
                except ValueError as exc:
                    raise ApiError(400, "Problems parsing JSON") from exc
        return self._body

    def obj(self) -> dict[str, Any]:
        body = self.body()
        if not isinstance(body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return body

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.args.get(name, default)


Handler = Callable[[Ctx], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    auth: str = "token"  # token, jwt (GitHub App endpoints), any


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self, method: str, pattern: str, *, auth: str = "token"
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, pattern, handler, auth))
            return handler

        return register


def build_map(routers: list[Router]) -> tuple[Map, dict[str, Route]]:
    rules, endpoints = [], {}
    for router in routers:
        for i, route in enumerate(router.routes):
            endpoint = f"{route.handler.__module__}.{route.handler.__name__}.{i}"
            endpoints[endpoint] = route
            rules.append(Rule(route.pattern, methods=[route.method], endpoint=endpoint))
    # GitHub's URLs neither add nor strip trailing slashes, so neither does the map.
    return Map(rules, strict_slashes=False, merge_slashes=False), endpoints


def paginate(
    ctx: Ctx, items: list[Any], *, per_page_default: int = 30, per_page_max: int = 100
) -> tuple[list[Any], dict[str, str]]:
    """Slice a list the GitHub way (page, per_page) and describe the rest in a Link header."""
    try:
        per_page = min(max(int(ctx.query("per_page") or per_page_default), 1), per_page_max)
        page = max(int(ctx.query("page") or 1), 1)
    except ValueError:
        per_page, page = per_page_default, 1
    last = max((len(items) + per_page - 1) // per_page, 1)
    chunk = items[(page - 1) * per_page : page * per_page]

    def link(target: int, rel: str) -> str:
        params = {k: v for k, v in ctx.request.args.items() if k not in {"page", "per_page"}}
        params.update(per_page=str(per_page), page=str(target))
        return f'<{ctx.request.base_url}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return chunk, ({"link": ", ".join(links)} if links else {})


def paged_response(ctx: Ctx, items: list[Any], **kwargs: int) -> Response:
    chunk, headers = paginate(ctx, items, **kwargs)
    return json_response(chunk, 200, headers)
