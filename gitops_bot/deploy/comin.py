"""comin's Prometheus exporter: which commit a pulling host last deployed, and how that went."""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass
from typing import Final

# What comin (internal/prometheus) exports after each deployment: one series, set to 1, whose
# labels are the main branch's commit and the deployment's status ("done" or "failed").
METRIC: Final = "comin_deployment_info"
DEPLOYED: Final = "done"
FAILED: Final = "failed"
# A host's whole exporter output is a few kilobytes; anything past this is not comin.
MAX_BYTES: Final = 256 * 1024
_CHUNK: Final = 16 * 1024
_COMMIT: Final = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_SERIES: Final = re.compile(rf"^{METRIC}\{{(?P<labels>.*)\}}\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL: Final = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE: Final = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class ScrapeError(Exception):
    """The exporter could not be read, or did not answer as comin does; in plain words."""


@dataclass(frozen=True)
class HostDeployment:
    """The last deployment a host reports: the commit it switched to (or tried to)."""

    commit: str
    status: str

    @property
    def done(self) -> bool:
        return self.status == DEPLOYED

    @property
    def failed(self) -> bool:
        return self.status == FAILED


def split_address(address: str) -> tuple[str, int]:
    """`NAME:PORT` or `[IPv6]:PORT` (the inventory's `exporter`) as a host and a port."""
    host, _, port = address.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)


def scrape(address: str, *, timeout: float, max_bytes: int = MAX_BYTES) -> HostDeployment | None:
    """GET http://`address`/metrics and read comin's last deployment; None before the first.

    `timeout` bounds the whole exchange, not each read, so an exporter that answers a byte
    at a time cannot hold the caller; the body is read up to `max_bytes`.
    """
    return parse(fetch(address, timeout=timeout, max_bytes=max_bytes))


def fetch(address: str, *, timeout: float, max_bytes: int = MAX_BYTES) -> str:
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/metrics", headers={"Accept": "text/plain"})
        response = connection.getresponse()
        if response.status != 200:  # noqa: PLR2004
            raise ScrapeError(f"{address}/metrics answered {response.status} {response.reason}")
        body = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScrapeError(f"{address}/metrics took longer than {timeout:g} s")
            if connection.sock is not None:
                connection.sock.settimeout(left)
            # read1: what one read of the socket brings, so a drip cannot outlast the deadline.
            chunk = response.read1(_CHUNK)
            if not chunk:
                break
            body += chunk
            if len(body) > max_bytes:
                raise ScrapeError(f"{address}/metrics answered more than {max_bytes} bytes")
    except TimeoutError:
        raise ScrapeError(f"{address}/metrics took longer than {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise ScrapeError(f"{address}/metrics: {error or type(error).__name__}") from None
    finally:
        connection.close()
    return body.decode("utf-8", errors="replace")


def parse(text: str) -> HostDeployment | None:
    """comin's deployment from Prometheus text; other metrics and comments are skipped."""
    found: HostDeployment | None = None
    for line in text.splitlines():
        match = _SERIES.match(line.strip())
        if match is None or _value(match["value"]) == 0:
            continue
        labels = _labels(match["labels"])
        commit, status = labels.get("commit_id", ""), labels.get("status", "")
        if not _COMMIT.match(commit) or not status:
            raise ScrapeError(f"{METRIC} has no commit_id and status: {line.strip()[:200]!r}")
        found = HostDeployment(commit=commit, status=status)
    return found


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            raise ScrapeError(f"{METRIC} has labels comin does not write: {text[:200]!r}")
        labels[match[1]] = re.sub(r"\\.", lambda e: _UNESCAPE.get(e[0], e[0]), match[2])
        position = match.end()
    return labels


def _value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScrapeError(f"{METRIC} has a value that is not a number: {text[:40]!r}") from None
