"""Suite 7, data hygiene: the scan every reliability suite ends with, shown to catch leaks.

The suites call `hygiene.assert_history_clean` on the state repo they wrote to; these
tests plant each kind of leak somewhere in history and check the scan finds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.writer.writer import Writer
from helpers import SECRET, STATUS_TOKEN, change, post_event, signup
from hygiene import assert_history_clean


def plant(settings: Settings, tmp_path: Path, files: dict[str, bytes], message: str) -> None:
    """A commit holding `files`, on a side branch that nothing merges: still history."""
    other = LocalGitRepo(settings.remote_url, tmp_path / "planter.git")
    head = other.snapshot("main")
    assert head is not None
    assert other.advance("side", other.commit([head.sha], files, message))


def test_a_run_of_every_event_type_leaves_a_clean_history(
    client: FlaskClient, writer: Writer, state_repo: Path
) -> None:
    post_event(client, signup("clean-one", domain="shop.clean.example", customerRef="cus_9"))
    post_event(client, signup(None, organization="Jane Doe Consulting"))
    writer.drain_once()
    post_event(client, change("tenant.suspend", "clean-one", reason="invoice 12 unpaid"))
    writer.drain_once()
    post_event(client, change("tenant.delete", "clean-one", reason="contract ended"))
    writer.drain_once()
    scanned = assert_history_clean(state_repo)
    assert scanned.commits >= 4
    assert scanned.blobs > 10


@pytest.mark.parametrize(
    ("files", "message", "found"),
    [
        ({"tenants/x.json": b'{"contact": "jane@acme.example"}\n'}, "Add x\n", "email"),
        ({"tenants/x.json": b"{}\n"}, "Add x\n\nAsked by jane.doe@acme.example\n", "email"),
        ({"tenants/x.json": SECRET.encode()}, "Add x\n", "token-like"),
        ({"tenants/x.json": b"{}\n"}, "Add x\n\ntoken ghp_0123456789abcdef\n", "token-like"),
        ({"tenants/x.json": b"-----BEGIN OPENSSH PRIVATE KEY-----\n"}, "Add x\n", "token-like"),
        ({"tenants/x.json": STATUS_TOKEN.encode()}, "Add x\n", "test secret"),
        ({"nix/extra.nix": b"{ }\n"}, "Add x\n", "wrote nix/extra.nix"),
        ({"README.md": b"hello\n"}, "Add x\n", "wrote README.md"),
    ],
)
def test_each_kind_of_leak_is_found_anywhere_in_history(
    settings: Settings,
    state_repo: Path,
    tmp_path: Path,
    files: dict[str, bytes],
    message: str,
    found: str,
) -> None:
    assert_history_clean(state_repo)  # the seed's own operator contact is allowed
    plant(settings, tmp_path, files, message)
    with pytest.raises(AssertionError, match=found):
        assert_history_clean(state_repo)


def test_extra_secrets_are_looked_for(settings: Settings, state_repo: Path, tmp_path: Path) -> None:
    plant(settings, tmp_path, {"tenants/x.json": b"opaque-value-42\n"}, "Add x\n")
    assert_history_clean(state_repo)
    with pytest.raises(AssertionError, match="test secret"):
        assert_history_clean(state_repo, secrets=("opaque-value-42",))
