"""The liveness probe: does a tenant's URL answer over HTTPS, with a certificate for its name."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

# Where a probe stopped, in the order a request passes through them.
Stage = Literal["dns", "tcp", "tls", "http", "status", "ok"]
# What a fresh tenant answers once its route works: its app's page, or a redirect to login.
DEFAULT_EXPECTED: Final = frozenset(range(200, 400))


@dataclass(frozen=True)
class ProbeSpec:
    """What a live tenant answers: per plan, from the operator's settings."""

    path: str = "/"
    expected: frozenset[int] = DEFAULT_EXPECTED
    timeout: float = 5.0
    port: int = 443

    def __post_init__(self) -> None:
        # The path goes into a request line: one space or line break would split it.
        if not self.path.startswith("/") or any(
            not c.isprintable() or c.isspace() for c in self.path
        ):
            raise ValueError(f"probe path must start with / and hold no spaces: {self.path!r}")


@dataclass(frozen=True)
class ProbeResult:
    """One probe's answer: ok, or the stage it failed at and why, in plain words."""

    name: str
    stage: Stage
    detail: str
    status: int | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.stage == "ok"


def system_resolver(name: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass
class Prober:
    """Probes names over HTTPS with the system's trust store (or `ca_file`), one at a time.

    `resolve` gives every address of a name (and may raise OSError): the system's resolver by
    default; tests, and a host that must bypass a stale cache, pass their own.
    """

    resolve: Callable[[str, int], Sequence[str]] = system_resolver
    ca_file: Path | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    def probe(self, name: str, spec: ProbeSpec | None = None) -> ProbeResult:
        spec = spec or ProbeSpec()
        start = self.clock()
        try:
            with self._connect(name, spec) as connected, self._handshake(connected, name) as tls:
                status, reason = _get(tls, name, spec)
        except _Failed as failure:
            return ProbeResult(name, failure.stage, failure.detail, None, self.clock() - start)
        seconds = self.clock() - start
        if status not in spec.expected:
            detail = f"HTTP: GET {spec.path} answered {status} {reason}".rstrip()
            detail += f", expected {_ranges(spec.expected)}"
            return ProbeResult(name, "status", detail, status, seconds)
        return ProbeResult(name, "ok", f"GET {spec.path} answered {status}", status, seconds)

    def _connect(self, name: str, spec: ProbeSpec) -> socket.socket:
        try:
            addresses = list(self.resolve(name, spec.port))
        except (OSError, UnicodeError) as error:
            raise _Failed("dns", f"DNS: {name} does not resolve ({_reason(error)})") from None
        if not addresses:
            raise _Failed("dns", f"DNS: {name} has no address")
        last_error = ""
        for address in addresses:
            try:
                return socket.create_connection((address, spec.port), timeout=spec.timeout)
            except TimeoutError:
                last_error = f"no answer from {address}:{spec.port} within {spec.timeout:g} s"
            except OSError as error:
                last_error = f"{address}:{spec.port} {_reason(error)}"
        raise _Failed("tcp", f"TCP: cannot connect: {last_error}")

    def _handshake(self, connected: socket.socket, name: str) -> ssl.SSLSocket:
        context = ssl.create_default_context(
            cafile=None if self.ca_file is None else str(self.ca_file)
        )
        timeout = connected.gettimeout()
        try:
            return context.wrap_socket(connected, server_hostname=name)
        except ssl.SSLCertVerificationError as error:
            reason = error.verify_message or error.reason
            raise _Failed(
                "tls", f"TLS: certificate verification failed for {name}: {reason}"
            ) from None
        except TimeoutError:
            raise _Failed("tls", f"TLS: no handshake within {timeout:g} s") from None
        except (ssl.SSLError, OSError) as error:
            raise _Failed("tls", f"TLS: handshake failed: {_reason(error)}") from None


class _Failed(Exception):
    def __init__(self, stage: Stage, detail: str) -> None:
        super().__init__(detail)
        self.stage, self.detail = stage, detail


def _get(tls: ssl.SSLSocket, name: str, spec: ProbeSpec) -> tuple[int, str]:
    """GET the spec's path by name; the status and its reason phrase."""
    request = (
        f"GET {spec.path} HTTP/1.1\r\nHost: {name}\r\nUser-Agent: gitops-bot-probe\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    )
    try:
        tls.sendall(request.encode("ascii"))
        response = http.client.HTTPResponse(tls)
        response.begin()
    except TimeoutError:
        raise _Failed(
            "http", f"HTTP: no answer to GET {spec.path} within {spec.timeout:g} s"
        ) from None
    except (http.client.HTTPException, OSError) as error:
        raise _Failed(
            "http", f"HTTP: no valid answer to GET {spec.path}: {_reason(error)}"
        ) from None
    return response.status, response.reason


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason).lower().replace("_", " ")
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def _ranges(codes: frozenset[int]) -> str:
    """200-399 rather than two hundred numbers."""
    ordered = sorted(codes)
    spans: list[str] = []
    first = previous = ordered[0]
    for code in [*ordered[1:], None]:
        if code is not None and code == previous + 1:
            previous = code
            continue
        spans.append(str(first) if first == previous else f"{first}-{previous}")
        if code is not None:
            first = previous = code
    return ", ".join(spans)
