"""The nginx edge services.gitops-bot writes, run by Debian's nginx in front of the served bot.

The module's promise: slow clients wait in nginx, never in a bot worker, and are cut off after
the configured timeouts; bodies over 64 KiB never reach the bot. This runs the virtual host the
module evaluates to (its proxyPass, extraConfig and nixpkgs' recommended proxy headers) in
front of `gitops-bot serve`, and holds 200 slow connections open against it.
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nix_helpers import NIXPKGS_LIB, eval_bot_module, needs_nix

from gitops_bot.config import Settings
from helpers import free_port, running_bot, signed_headers, signup

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    *needs_nix,
    pytest.mark.skipif(
        not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
        reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
    ),
    pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed"),
    pytest.mark.slow,
]

HOST = "bot.example.com"
SLOW_CLIENTS = 200
TIMEOUT_SECONDS = 3

# nixpkgs' recommendedProxyConfig, which the module turns on for this vhost.
PROXY_HEADERS = """
proxy_set_header Host $host;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
"""


def evaluated_vhost(bot_port: int) -> dict[str, Any]:
    config = (
        "{ services.gitops-bot = { enable = true; "
        f'nginx.virtualHost = "{HOST}"; web.port = {bot_port}; '
        f'nginx.clientHeaderTimeout = "{TIMEOUT_SECONDS}s"; '
        f'nginx.clientBodyTimeout = "{TIMEOUT_SECONDS}s"; '
        'webhookSecretFile = "/run/keys/w"; statusTokenFile = "/run/keys/s"; '
        'adminTokenFile = "/run/keys/a"; }; }'
    )
    result = eval_bot_module(config, f".nginx.virtualHosts.{json.dumps(HOST)}")
    assert result.returncode == 0, result.stderr
    vhost: dict[str, Any] = json.loads(result.stdout)
    return vhost


@pytest.fixture
def edge(settings: Settings, tmp_path: Path) -> Iterator[int]:
    """The bot behind Debian's nginx running the module's vhost; yields nginx's port."""
    with running_bot(settings, tmp_path) as server:
        vhost = evaluated_vhost(server.port)
        location = vhost["locations"]["/"]
        port = free_port()
        prefix = tmp_path / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        # Room for every slow client and the real ones: nixpkgs' module leaves
        # worker_connections at nginx's default of 1024 as well.
        conf.write_text(
            f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\ndaemon off;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n access_log off;\n client_body_temp_path {prefix}/body;\n"
            f" proxy_temp_path {prefix}/proxy;\n"
            f" server {{\n  listen 127.0.0.1:{port};\n  server_name {HOST};\n"
            f"  {vhost['extraConfig']}\n"
            f"  location / {{\n   proxy_pass {location['proxyPass']};\n{PROXY_HEADERS}"
            f"   {location['extraConfig']}\n  }}\n }}\n}}\n"
        )
        assert NGINX is not None
        log = prefix / "error.log"
        nginx = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 15
            while not port_open(port):
                assert nginx.poll() is None, log.read_text() if log.exists() else "no log"
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
            yield port
        finally:
            nginx.terminate()
            nginx.wait(timeout=15)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def request(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers={"Host": HOST, **headers})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def p99_latency(port: int, count: int) -> float:
    """The 99th percentile of /healthz and signed-signup round trips through nginx."""
    times = []
    for number in range(count):
        start = time.perf_counter()
        if number % 2:
            assert request(port, "GET", "/healthz") == 200
        else:
            body = json.dumps(signup(None, organization=f"Edge Corp {number}")).encode()
            status = request(port, "POST", "/v1/events", body, **signed_headers(body))
            assert status == 202, status
        times.append(time.perf_counter() - start)
    return statistics.quantiles(times, n=100)[98]


def slow_clients(port: int) -> list[socket.socket]:
    """Half stall in their headers, half in a declared 1 KiB body, one byte sent each."""
    opened = []
    for number in range(SLOW_CLIENTS):
        client = socket.create_connection(("127.0.0.1", port), timeout=30)
        if number % 2:
            client.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode())
        else:
            client.sendall(
                f"POST /v1/events HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                "Content-Length: 1024\r\n\r\n{".encode()
            )
        opened.append(client)
    return opened


def test_slow_clients_wait_in_nginx_and_are_cut_off_while_real_ones_are_served(
    edge: int,
) -> None:
    p99_latency(edge, 20)  # warm both paths: imports, the first SQLite connection per worker
    baseline = p99_latency(edge, 100)
    stalled = slow_clients(edge)
    try:
        loaded = p99_latency(edge, 100)
        # Twice the baseline, with a floor for a tiny baseline on two shared cores: one
        # scheduler hiccup is ~50 ms and says nothing about starvation (which is seconds).
        assert loaded <= max(2 * baseline, baseline + 0.05), (baseline, loaded)

        # nginx ends every one of them after the module's timeout (408, or a closed socket),
        # without a byte of theirs reaching a bot worker.
        deadline = time.monotonic() + TIMEOUT_SECONDS + 30
        for client in stalled:
            client.settimeout(max(0.1, deadline - time.monotonic()))
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        for client in stalled:
            client.close()


def test_a_body_over_64_kib_is_refused_by_nginx(edge: int) -> None:
    body = b"[" + b"0," * 40_000 + b"0]"
    assert request(edge, "POST", "/v1/events", body, **signed_headers(body)) == 413
