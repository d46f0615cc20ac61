"""A stand-in deploy engine for the demo and benchmarks: it waits, then serves; no host changes.

What is real: the bot (intake, writer, webhook, probe), the deploy's selection of hosts and
new tenants (`gitops_bot.deploy.deploy.select`, the code `gitops-bot deploy` runs), and the
HTTPS the probe checks, with a certificate it verifies. What stands in: the engine run
(`nixops deploy` becomes a sleep of a fixed time), nginx on the hosts (one local HTTPS server
answers for every tenant it has "deployed"), the public CA (one made on the spot), and GitHub,
which would turn the deploy's Deployment statuses into `deployment_status` webhooks: here
they are signed and delivered to the bot's `/webhooks/github` directly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops_bot.backends import gitrepo
from gitops_bot.contract.inventory import INVENTORY_PATH, Inventory
from gitops_bot.deploy import deploy
from gitops_bot.github.deployments import Reporter, ReportError

ENGINE = "stand-in"
BANNER = (
    "STAND-IN DEPLOY, not a real one: no host is changed and no nixops or colmena runs. "
    "The engine waits {seconds:g} s, then a local HTTPS server on 127.0.0.1:{port} answers "
    "for each new tenant, with a certificate from a CA made for this run ({ca})."
)
# Before its deploy a name gets this certificate, as nginx's default server would serve one
# for a name it has no vhost for yet: the probe's verification fails, as it should.
UNDEPLOYED_NAME = "not-deployed.stand-in.invalid"


class StandinCA:
    """A certificate authority in a folder, made for one run: `bundle` is what the probe trusts."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "gitops-bot stand-in CA (demo only)")]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(ca=True), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.bundle = folder / "ca.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, name: str) -> ssl.SSLContext:
        """A TLS server context with a fresh certificate for `name`, signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=12))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_path, key_path = self.folder / f"{name}.crt", self.folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        return context


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


class Sites:
    """One HTTPS server on 127.0.0.1 in place of every host's nginx, until close().

    A name answers 200 with its own certificate only once `bring_up` was called for it;
    before that the handshake offers a certificate for another name, so a probe fails at TLS.
    """

    def __init__(self, ca: StandinCA, *, port: int = 0) -> None:
        self.ca = ca
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        default = ca.server_context(UNDEPLOYED_NAME)
        default.sni_callback = self._pick
        sites = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.headers.get("Host", "").rsplit(":", 1)[0].lower()
                if sites.is_up(name):
                    status = 200
                    body = f"stand-in for {name}: served by the demo, not by a deployed host\n"
                else:
                    status, body = 421, f"{name} is not deployed on this stand-in\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the probe's requests are the bot's to log, not ours

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._server.socket = default.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _pick(self, connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: Any) -> None:
        with self._lock:
            context = self._contexts.get((name or "").lower())
        if context is not None:
            connection.context = context

    def bring_up(self, names: Sequence[str]) -> None:
        """What a host's switch does for a new tenant: its vhost, with a certificate, answers."""
        contexts = {name.lower(): self.ca.server_context(name.lower()) for name in names}
        with self._lock:
            self._contexts.update(contexts)

    def is_up(self, name: str) -> bool:
        with self._lock:
            return name.lower() in self._contexts

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class WebhookDeployments:
    """GitHub's part, played locally: the Deployments calls `gitops-bot deploy`'s Reporter
    makes, answered by the signed `deployment_status` webhook GitHub would deliver to the bot."""

    def __init__(self, bot_url: str, secret: str, *, repository: str = "stand-in/state") -> None:
        self.url = f"{bot_url.rstrip('/')}/webhooks/github"
        self.secret, self.repository = secret, repository
        self._ids = itertools.count(1)
        self._deployments: dict[int, dict[str, Any]] = {}

    def create(
        self, *, ref: str, environment: str, payload: dict[str, Any], description: str
    ) -> int:
        deployment_id = next(self._ids)
        self._deployments[deployment_id] = {
            "id": deployment_id,
            "sha": ref,
            "environment": environment,
            "payload": payload,
            "description": description,
        }
        return deployment_id

    def create_status(
        self,
        deployment_id: int,
        *,
        state: str,
        description: str,
        environment_url: str | None,
        log_url: str | None,
    ) -> None:
        event = {
            "action": "created",
            "deployment_status": {
                "state": state,
                "description": description,
                "environment_url": environment_url,
                "log_url": log_url,
            },
            "deployment": self._deployments[deployment_id],
            "repository": {"full_name": self.repository},
        }
        body = json.dumps(event).encode()
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "deployment_status",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": f"sha256={signature}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError) as error:
            raise ReportError(f"delivering deployment_status {state} failed: {error}") from error


@dataclass(frozen=True)
class Deploy:
    """One stand-in deploy: the commit, hosts and new tenants, and the engine's own times."""

    head: str
    hosts: tuple[str, ...]
    tenants: tuple[str, ...]
    started: float  # time.time() when the engine started
    ended: float  # and when it finished, just before its success was reported


class StandinEngine:
    """Deploys each new commit of the branch, as the deploy workflow would on every push.

    It polls the state repo's branch; the hosts and new tenants of a commit are what
    `gitops-bot deploy` would select (its own code, against markers kept in memory). The
    fleet is taken to run the branch's head when the engine starts: only later commits deploy.
    """

    def __init__(
        self,
        remote: Path,
        *,
        sites: Sites,
        api: WebhookDeployments,
        seconds: float,
        branch: str = "main",
        poll: float = 0.1,
        say: Callable[[str], None] = print,
    ) -> None:
        self.remote, self.sites, self.api = remote, sites, api
        self.seconds, self.branch, self.poll, self.say = seconds, branch, poll, say
        self.deploys: list[Deploy] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        head = self._head()
        self._markers = dict.fromkeys(self._inventory(head).hosts, head)
        self._last = head
        self._thread = threading.Thread(target=self._run, name="stand-in", daemon=True)

    def start(self) -> StandinEngine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 30)

    def _head(self) -> str:
        return gitrepo.resolve(self.remote, f"refs/heads/{self.branch}")

    def _inventory(self, head: str) -> Inventory:
        content = gitrepo.read_files(self.remote, head, INVENTORY_PATH)[INVENTORY_PATH]
        return Inventory.model_validate_json(content)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            head = self._head()
            if head == self._last:
                continue
            self._last = head
            try:
                self.deploy(head)
            except (deploy.DeployError, ReportError, gitrepo.GitError) as error:
                # As a failed deploy job: said, and retried by the next commit's deploy.
                self.errors.append(str(error))
                self.say(f"stand-in deploy of {head[:12]} failed: {error}")

    def deploy(self, head: str) -> Deploy | None:
        """What `gitops-bot deploy` does for `head`, with a sleep where the engine would run."""
        selection = deploy.select(self.remote, head=head, deployed=self._markers)
        if not selection.targets:
            self._markers.update(dict.fromkeys(selection.up_to_date, head))
            return None
        reporter = Reporter(self.api)
        hosts = {target.host: target.base for target in selection.targets}
        tenants = tuple(tenant.slug for tenant in selection.new_tenants)
        reporter.start(head=head, engine=ENGINE, hosts=hosts, new_tenants=selection.new_tenants)
        started = time.time()
        self.say(
            f"stand-in deploy of {head[:12]} to {', '.join(hosts)} started "
            f"(new: {', '.join(tenants) or 'none'}); waiting {self.seconds:g} s in place of nixops"
        )
        self._stop.wait(self.seconds)
        names = [tenant.url.removeprefix("https://") for tenant in selection.new_tenants]
        self.sites.bring_up(names)
        ended = time.time()
        self._markers.update(dict.fromkeys(hosts, head))
        done = Deploy(head, tuple(hosts), tenants, started, ended)
        self.deploys.append(done)
        self.say(
            f"stand-in deploy of {head[:12]} done in {ended - started:.2f} s; "
            f"https://{', https://'.join(names) or '(no new names)'} now answer(s) on "
            f"127.0.0.1:{self.sites.port}"
        )
        reporter.succeed()
        return done
