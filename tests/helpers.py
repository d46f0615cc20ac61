"""Helpers the tests share: independent signers, event builders, git readers, a paired clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.gitrepo import init_bare
from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.store.queue import Store
from gitops_bot.writer.writer import Writer

ROOT = Path(__file__).resolve().parent.parent
SECRET_BYTES = b"test-secret-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
# As long as the bot accepts (config.MIN_TOKEN_CHARS), so that create_app takes them.
STATUS_TOKEN = "status-token-for-tests-0123456789"
ADMIN_TOKEN = "admin-token-for-tests-0123456789ab"
# What helpers.running_bot gives `gitops-bot serve` in its secret files.
E2E_STATUS_TOKEN = "e2e-status-token-0123456789abcdef"
E2E_ADMIN_TOKEN = "e2e-admin-token-0123456789abcdefgh"


def find_browser() -> Path | None:
    """The Chromium the browser test drives: Debian's, as `make test` installs it.

    Elsewhere (a CI image with Chrome preinstalled) $CHROMIUM or a Chromium-based
    browser on PATH; Ubuntu's chromium-browser is a snap shim Playwright cannot drive.
    """
    if named := os.environ.get("CHROMIUM"):
        return Path(named)
    if (debian := Path("/usr/bin/chromium")).exists():
        return debian
    for name in ("google-chrome", "google-chrome-stable", "chromium"):
        if found := shutil.which(name):
            return Path(found)
    return None


GITHUB_WEBHOOK_SECRET = "github-webhook-secret-for-tests-0123"


def repo_for(settings: Settings) -> LocalGitRepo:
    return LocalGitRepo(settings.remote_url, settings.writer_clone)


def rsa_key_pair() -> tuple[str, bytes]:
    """A fresh RSA key, as a GitHub App's: the private key as PEM text, the public as bytes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def push_by_hand(
    repo: LocalGitRepo, files: dict[str, bytes | None], message: str = "By hand\n"
) -> str:
    """Commit `files` on top of main through another clone and push it: someone else's change."""
    head = repo.snapshot("main")
    assert head is not None
    sha = repo.commit([head.sha], files, message)
    assert repo.advance("main", sha)
    return sha


def seed_state_repo(settings: Settings) -> Path:
    """Create the bare remote and let a writer seed it and sync the queue, as on first start."""
    remote = settings.state_dir / "state.git"
    init_bare(remote, branch=settings.branch)
    repo = repo_for(settings)
    with Store(settings.database_path) as store:
        store.migrate()
        Writer(store=store, repo=repo, settings=settings).head()
    repo.close()
    return remote


def sign(event_id: str, timestamp: int, body: bytes, secret: bytes = SECRET_BYTES) -> str:
    """The spec's signature, written out independently of the standardwebhooks package."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signup(slug: str | None = "acme-corp", plan: str = "pro", **data: Any) -> dict[str, Any]:
    if slug is not None:
        data["slug"] = slug
    return {
        "type": "tenant.signup",
        "timestamp": "2026-11-24T12:00:00Z",
        "data": {"plan": plan, **data},
    }


def change(event_type: str, slug: str, **data: Any) -> dict[str, Any]:
    """A lifecycle event (tenant.suspend, .resume, .update, .delete) for `slug`."""
    return {"type": event_type, "timestamp": "2026-11-24T12:00:00Z", "data": {"slug": slug, **data}}


def signed_headers(
    body: bytes, event_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    event_id = event_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(event_id, timestamp, body),
    }


def post_event(client: FlaskClient, payload: Any, event_id: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    return client.post("/v1/events", data=body, headers=signed_headers(body, event_id))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def tenant_files(repo: Path, ref: str = "main") -> dict[str, dict[str, Any]]:
    """Every tenant file on `ref` of a bare repo, parsed."""
    names = git(repo, "ls-tree", "--name-only", f"{ref}:tenants").split()
    return {
        name.removesuffix(".json"): json.loads(git(repo, "show", f"{ref}:tenants/{name}"))
        for name in names
        if name.endswith(".json") and name != "tenant.schema.json"
    }


@dataclass
class Server:
    """`gitops-bot serve` running on 127.0.0.1, and what a test needs to talk to it."""

    url: str
    port: int
    remote: Path
    env: dict[str, str]
    log: Path
    admin_token: str
    status_token: str
    pid: int

    def children(self) -> list[tuple[int, str]]:
        """The serve process's children (web workers, the writer) with their command lines."""
        found = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                found.append((int(child), command.decode(errors="replace")))
        return found

    def writer_pid(self, *, other_than: int | None = None, timeout: float = 30) -> int:
        """The writer child's pid, waiting for one (other than `other_than`) to run."""
        deadline = time.monotonic() + timeout
        while True:
            writers = [p for p, cmd in self.children() if "gitops_bot.cli worker" in cmd]
            if found := [pid for pid in writers if pid != other_than]:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no writer process under serve (pid {self.pid})")
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_bot(settings: Settings, workdir: Path, **env: str) -> Iterator[Server]:
    """`gitops-bot serve` with 4 web workers and the writer, until the block ends.

    Secrets come from files, as in production; `env` adds or overrides variables.
    """
    secrets = {
        "WEBHOOK_SECRET": SECRET,
        "STATUS_TOKEN": E2E_STATUS_TOKEN,
        "ADMIN_TOKEN": E2E_ADMIN_TOKEN,
    }
    files = {}
    for name, value in secrets.items():
        files[f"GITOPS_BOT_{name}_FILE"] = path = workdir / name.lower()
        path.write_text(value)
    port = free_port()
    full_env = {
        **os.environ,
        "GITOPS_BOT_STATE_DIR": str(settings.state_dir),
        "GITOPS_BOT_SEED_DIR": str(settings.seed_dir),
        "GITOPS_BOT_POLL_INTERVAL": "0.02",
        **{key: str(path) for key, path in files.items()},
        **env,
    }
    log_path = workdir / "serve.log"
    log = log_path.open("wb")
    command = ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "4"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gitops_bot.cli", *command],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # generous: the two cores are shared
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(log_path.read_text())
                time.sleep(0.1)
        remote = settings.state_dir / "state.git"
        yield Server(
            url,
            port,
            remote,
            full_env,
            log_path,
            secrets["ADMIN_TOKEN"],
            secrets["STATUS_TOKEN"],
            process.pid,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


class Clone:
    """A working clone of a bare remote, committed to as a person would, with the git CLI."""

    IDENTITY = ("-c", "user.name=test person", "-c", "user.email=person@test.invalid")

    def __init__(self, path: Path, remote: Path) -> None:
        self.path, self.remote = path, remote
        subprocess.run(
            ["git", "clone", "--quiet", str(remote), str(path)], check=True, capture_output=True
        )
        if not self.git("branch", "--remotes"):
            self.git("symbolic-ref", "HEAD", "refs/heads/main")  # an empty remote: start main

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *self.IDENTITY, *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def write(self, path: str, content: str | dict[str, Any]) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2) + "\n"
        target.write_text(text)

    def read_json(self, path: str) -> Any:
        return json.loads((self.path / path).read_text())

    def remove(self, path: str) -> None:
        (self.path / path).unlink()

    def commit(self, message: str) -> str:
        """Commit every change, push it, and return the new commit's id."""
        self.git("add", "-A")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        self.git("push", "--quiet", "origin", "HEAD")
        return self.git("rev-parse", "HEAD")


def seed_files(seed_dir: Path) -> dict[str, bytes]:
    """tenants/ and nix/ of a seed directory, as the writer seeds a new state repo."""
    return {
        path.relative_to(seed_dir).as_posix(): path.read_bytes()
        for folder in ("tenants", "nix")
        for path in sorted((seed_dir / folder).rglob("*"))
        if path.is_file()
    }


def with_capacity(inventory: bytes, capacity: int) -> bytes:
    data = json.loads(inventory)
    for host in data["hosts"].values():
        host["capacity"] = capacity
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


class FakeGitHubClock:
    """The governor's clock, moved forward with the fake GitHub's instead of sleeping.

    Both start from real time and advance together, so the fake's rate windows and token
    expiry see exactly the waits the governor asked for, and the tests do not wait at all.
    """

    def __init__(self, gh: FakeGitHub) -> None:
        self.gh = gh
        self.offset = 0.0
        self.slept: list[float] = []
        self.while_sleeping: list[Callable[[], object]] = []  # run at each sleep: "meanwhile"

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.gh.advance_time(seconds)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        for task in list(self.while_sleeping):
            task()


def github_signature(body: bytes, secret: str = GITHUB_WEBHOOK_SECRET) -> str:
    """GitHub's X-Hub-Signature-256, written out independently of the bot's code."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_github(client: FlaskClient, event: str, payload: Any, delivery: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    return client.post(
        "/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(body),
        },
    )


@contextmanager
def lost_database(settings: Settings, **changes: Any) -> Iterator[tuple[Settings, Store]]:
    """`settings` (with `changes`) pointing at a new, empty queue file: the old one is lost."""
    fresh = settings.model_copy(
        update={"database": settings.state_dir / "replacement.sqlite3", **changes}
    )
    with Store(fresh.database_path) as store:
        store.migrate()
        yield fresh, store
