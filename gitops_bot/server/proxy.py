"""Forwarded headers, honoured only from the proxies gunicorn is told to trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class TrustedProxyFix:
    """ProxyFix for requests whose peer is a trusted proxy; the rest pass untouched.

    werkzeug's ProxyFix believes X-Forwarded-For from anyone, and the login throttle keys
    on `remote_addr`: a client could pick its own address and dodge the throttle. Here the
    header counts only when the TCP peer is in `trusted` (gunicorn's `forwarded_allow_ips`).
    """

    def __init__(self, app: WSGIApplication, trusted: Iterable[str]) -> None:
        self.app = app
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=0)
        allowed = list(trusted)
        self.anyone = "*" in allowed
        self.networks = [ipaddress.ip_network(entry) for entry in allowed if entry != "*"]

    def trusts(self, peer: str) -> bool:
        if self.anyone:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        if self.trusts(str(environ.get("REMOTE_ADDR", ""))):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def behind_proxies(app: WSGIApplication, trusted: list[str]) -> WSGIApplication:
    """`app` as is when no proxy is trusted, else wrapped in TrustedProxyFix."""
    return TrustedProxyFix(app, trusted) if trusted else app
