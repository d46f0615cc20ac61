"""Helpers the tests share: an independent signer, event builders and git readers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.gitrepo import init_bare
from gitops_bot.queue import Store
from gitops_bot.writer import Writer

ROOT = Path(__file__).resolve().parent.parent
SECRET_BYTES = b"test-secret-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
STATUS_TOKEN = "status-token-for-tests"


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
