"""Helpers the tests share: independent signers, event builders, git readers, a paired clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from fakegithub import FakeGitHub
from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.gitrepo import init_bare
from gitops_bot.queue import Store
from gitops_bot.writer import Writer

ROOT = Path(__file__).resolve().parent.parent
SECRET_BYTES = b"test-secret-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
STATUS_TOKEN = "status-token-for-tests"
GITHUB_WEBHOOK_SECRET = "github-webhook-secret-for-tests"


def repo_for(settings: Settings) -> LocalGitRepo:
    return LocalGitRepo(settings.remote_url, settings.writer_clone)


def seed_state_repo(settings: Settings) -> Path:
    """Create the bare remote and let a writer seed it and sync the queue, as on first start."""
    remote = settings.state_dir / "state.git"
    init_bare(remote, branch=settings.branch)
    with Store(settings.database_path) as store:
        store.migrate()
        Writer(store=store, repo=repo_for(settings), settings=settings).head()
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
