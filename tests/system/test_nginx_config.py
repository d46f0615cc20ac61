"""The nginx configuration the module emits, checked and served by Debian's nginx."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nix_helpers import INVENTORY, NIX_DIR, needs_nix, nix_eval, nix_path, nix_str, write_tenant

from gitops_bot.contract.tenant import UID_RANGE, hostname_problem
from helpers import free_port

# Debian installs it in /usr/sbin, which a non-root PATH may lack.
NGINX: Final = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
pytestmark = [
    *needs_nix,
    pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed"),
]

BASE: Final = "tenants.example.com"  # nix/inventory.json's base domain
# The longest name DNS allows: 253 bytes in labels of at most 63.
LONGEST: Final = f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
LONGEST_SLUG: Final = "x" * 40
DEMO_APP: Final = NIX_DIR / "demo-app.py"


def test_the_longest_names_are_valid_tenant_names() -> None:
    assert len(LONGEST) == 253
    assert hostname_problem(LONGEST) is None


def render(tenants: Path, prefix: Path, ports: tuple[int, int], *, hash_sizes: bool = True) -> str:
    text: str = nix_eval(
        f"import {nix_path(NIX_DIR / 'tests' / 'render-nginx.nix')} {{ "
        f"tenantsDir = {nix_path(tenants)}; inventoryFile = {nix_path(INVENTORY)}; "
        f'host = "web-1"; prefix = {nix_str(str(prefix))}; '
        f"httpPort = {ports[0]}; httpsPort = {ports[1]}; "
        f"hashSizes = {'true' if hash_sizes else 'false'}; }}"
    )
    return text


def nginx_conf(prefix: Path, http_block: str) -> Path:
    """A whole nginx.conf around `http_block`, with every path of nginx's own under `prefix`."""
    temp = prefix / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"daemon off;\nworker_processes 1;\nuser root;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log off;\n  default_type text/plain;\n"
        + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in TEMP_KINDS)
        + f"{http_block}\n}}\n"
    )
    return conf


TEMP_KINDS: Final = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    assert NGINX is not None
    return subprocess.run(
        [NGINX, "-t", "-q", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


class Certificates:
    """A test CA, and one certificate it signs for every name the tests serve."""

    def __init__(self, root: Path, names: list[str]) -> None:
        self.root = root
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gitops-bot test CA")])
        now = dt.datetime.now(dt.UTC)
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenants")]))
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        self.chain = leaf.public_bytes(serialization.Encoding.PEM) + self.ca_file.read_bytes()
        self.key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def install(self, prefix: Path, cert_names: list[str]) -> None:
        """Where nixpkgs' acme module would put them: /var/lib/acme/<cert>/."""
        for cert in cert_names:
            folder = prefix / "var" / "lib" / "acme" / cert
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "fullchain.pem").write_bytes(self.chain)
            (folder / "key.pem").write_bytes(self.key)


@pytest.fixture
def prefix() -> Iterator[Path]:
    # Short, since socket paths under it must fit sockaddr_un's 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="ng", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_nginx_accepts_2000_tenants_with_the_longest_names_and_needs_the_hash_sizes(
    tmp_path: Path, prefix: Path
) -> None:
    tenants = tmp_path / "tenants"
    domains = []
    for i in range(2_000):
        # Every hundredth domain is 253 bytes long; the others ordinary.
        domain = f"{i:04d}{LONGEST[4:]}" if i % 100 == 0 else f"shop{i}.example.org"
        slug = LONGEST_SLUG[: 40 - 4] + f"{i:04d}" if i % 100 == 0 else f"tenant{i:05d}"
        write_tenant(tenants, slug, uid=UID_RANGE.start + i, domains=(domain,))
        domains.append(domain)
    certificates = Certificates(tmp_path, [f"*.{BASE}"])
    certificates.install(prefix, [BASE, *domains])
    ports = (free_port(), free_port())

    checked = nginx_test(nginx_conf(prefix, render(tenants, prefix, ports)), prefix)
    assert checked.returncode == 0, checked.stderr

    # nginx's defaults cannot hold a 253-byte name: the fixed sizes are what makes it work.
    only_long = tmp_path / "one"
    write_tenant(only_long, "longest", uid=UID_RANGE.start, domains=(LONGEST,))
    certificates.install(prefix, [LONGEST])
    block = render(only_long, prefix, ports, hash_sizes=False)
    refused = nginx_test(nginx_conf(prefix, block), prefix)
    assert refused.returncode != 0
    assert "server_names_hash" in refused.stderr


class NamedHTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1, with SNI and certificate checks for `name`."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(name, port, context=context, timeout=10)
        self.name, self.context = name, context

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sock = self.context.wrap_socket(raw, server_hostname=self.name)


def wait_for(predicate, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def served(tmp_path: Path, prefix: Path) -> Iterator[tuple[ssl.SSLContext, int, int]]:
    """nginx on the rendered configuration, with demo apps for the tenants that run."""
    tenants = tmp_path / "tenants"
    write_tenant(tenants, "alpha", uid=UID_RANGE.start, domains=("alpha.example.org", LONGEST))
    write_tenant(tenants, LONGEST_SLUG, uid=UID_RANGE.start + 1)
    write_tenant(tenants, "sleepy", uid=UID_RANGE.start + 2)  # active, its app is down
    write_tenant(tenants, "paused", uid=UID_RANGE.start + 3, state="suspended")
    names = [f"*.{BASE}", "alpha.example.org", LONGEST]
    certificates = Certificates(tmp_path, names)
    certificates.install(prefix, [BASE, "alpha.example.org", LONGEST])
    sockets, routes = prefix / "run" / "tenant-sockets", prefix / "run" / "tenant-routes"
    sockets.mkdir(parents=True)
    for slug, state in (
        ("alpha", "active"),
        (LONGEST_SLUG, "active"),
        ("sleepy", "active"),
        ("paused", "suspended"),
    ):
        (routes / slug).mkdir(parents=True)
        (routes / slug / state).touch()
    challenge = (
        prefix / "var" / "lib" / "acme" / "acme-challenge" / ".well-known" / "acme-challenge"
    )
    challenge.mkdir(parents=True)
    (challenge / "token-1").write_text("proof\n")
    ports = (free_port(), free_port())
    conf = nginx_conf(prefix, render(tenants, prefix, ports))
    processes = []
    try:
        for slug in ("alpha", LONGEST_SLUG):
            state = tmp_path / "state" / slug
            state.mkdir(parents=True)
            processes.append(
                subprocess.Popen(
                    [sys.executable, str(DEMO_APP), "--state-directory", str(state),
                     "--socket", str(sockets / f"{slug}.sock")],
                    env={**os.environ, "TENANT_SLUG": slug},
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for slug in ("alpha", LONGEST_SLUG):
            wait_for((sockets / f"{slug}.sock").exists, f"{slug}'s socket")
        assert NGINX is not None
        processes.append(subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf)]))
        wait_for(lambda: port_open(ports[1]), "nginx")
        context = ssl.create_default_context(cafile=str(certificates.ca_file))
        yield context, ports[0], ports[1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def get(context: ssl.SSLContext, port: int, name: str, path: str = "/") -> tuple[int, str]:
    connection = NamedHTTPS(name, port, context)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_nginx_routes_every_kind_of_tenant(served: tuple[ssl.SSLContext, int, int]) -> None:
    context, http_port, https_port = served
    assert get(context, https_port, f"alpha.{BASE}") == (200, "hello from alpha\n")
    assert get(context, https_port, "alpha.example.org") == (200, "hello from alpha\n")
    assert get(context, https_port, LONGEST) == (200, "hello from alpha\n")
    longest_sub = f"{LONGEST_SLUG}.{BASE}"
    assert get(context, https_port, longest_sub) == (200, f"hello from {LONGEST_SLUG}\n")
    status, body = get(context, https_port, f"paused.{BASE}")
    assert (status, "suspended" in body) == (503, True)
    status, body = get(context, https_port, f"sleepy.{BASE}")
    assert (status, "starting or unavailable" in body) == (502, True)
    status, body = get(context, https_port, f"nobody.{BASE}")
    assert (status, "No site here" in body) == (404, True)
    # A name nobody serves is refused at the handshake.
    with pytest.raises(ssl.SSLError):
        get(context, https_port, "unknown.example.net")
    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    try:
        plain.request(
            "GET", "/.well-known/acme-challenge/token-1", headers={"Host": "shop.example"}
        )
        challenge = plain.getresponse()
        assert (challenge.status, challenge.read()) == (200, b"proof\n")
        plain.request("GET", "/somewhere", headers={"Host": f"alpha.{BASE}"})
        redirect = plain.getresponse()
        redirect.read()
        assert redirect.status == 301
        assert redirect.getheader("Location") == f"https://alpha.{BASE}/somewhere"
    finally:
        plain.close()
