"""Forwarded headers count only from a trusted proxy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from gitops_bot.server.proxy import behind_proxies

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def who(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    response = Response(Request(environ).remote_addr or "")
    return response(environ, start_response)


def seen(trusted: list[str], peer: str) -> str:
    client = Client(behind_proxies(who, trusted))
    headers = {"X-Forwarded-For": "203.0.113.9"}
    return client.get("/", headers=headers, environ_base={"REMOTE_ADDR": peer}).get_data(
        as_text=True
    )


def test_no_trusted_proxy_means_the_header_is_ignored() -> None:
    assert behind_proxies(who, []) is who
    assert seen([], "198.51.100.7") == "198.51.100.7"


def test_a_forged_header_from_an_untrusted_peer_is_ignored() -> None:
    assert seen(["127.0.0.1", "10.0.0.0/8"], "198.51.100.7") == "198.51.100.7"


def test_the_header_counts_from_a_trusted_proxy() -> None:
    assert seen(["127.0.0.1", "10.0.0.0/8"], "10.1.2.3") == "203.0.113.9"
    assert seen(["*"], "198.51.100.7") == "203.0.113.9"
