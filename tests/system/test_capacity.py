"""A host holds 2,000 tenants at once, and 10,000 come and go without an id handed out twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from nix_helpers import NIX_DIR, NIXPKGS_LIB, needs_nix, nix_eval, nix_path, write_tenant

from gitops_bot.backends.local import LocalGitRepo
from gitops_bot.config import Settings
from gitops_bot.contract.inventory import Inventory
from gitops_bot.contract.tenant import UID_RANGE
from gitops_bot.store.queue import Store
from gitops_bot.store.reservations import RepoTenant, UidsExhausted
from gitops_bot.writer.writer import Writer
from helpers import ROOT, git, lost_database, post_event, push_by_hand, repo_for, signup

AT_ONCE = 2_000
LIFETIME = 10_000


@pytest.mark.slow
@pytest.mark.skipif(
    not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
    reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
)
@pytest.mark.nix
def test_one_host_evaluates_with_2000_tenants_through_the_module_system(tmp_path: Path) -> None:
    for i in range(AT_ONCE):
        domains = (f"shop{i}.example.org",) if i % 5 == 0 else ()
        slug = f"tenant{i:05d}" if i % 2 else f"{'long' * 8}-{i:05d}"  # both user name forms
        write_tenant(
            tmp_path, slug, host="machine", plan="small", uid=UID_RANGE.start + i, domains=domains
        )
    evaluated = nix_eval(
        f"let r = import {nix_path(NIX_DIR / 'tests' / 'module-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; tenantsDir = {nix_path(tmp_path)}; "
        f"inventoryFile = {nix_path(NIX_DIR / 'tests' / 'fixtures' / 'inventory.json')}; "
        'hostName = "machine"; }; '
        "in { inherit (r) failedAssertions; "
        "users = builtins.mapAttrs (_: builtins.fromJSON) r.users; "
        "sockets = builtins.length (builtins.attrNames r.sockets); "
        "services = builtins.length (builtins.attrNames r.services); "
        "bytes = builtins.foldl' (n: v: n + builtins.stringLength v) 0 "
        "(builtins.attrValues r.services); }"
    )
    assert evaluated["failedAssertions"] == []
    users = evaluated["users"]
    assert len(users) == AT_ONCE
    assert len({u["uid"] for u in users.values()}) == AT_ONCE
    assert all(u["uid"] in UID_RANGE and len(name) <= 31 for name, u in users.items())
    assert evaluated["sockets"] == AT_ONCE
    # app, database and route per tenant, two acme units per custom domain, one shared.
    assert evaluated["services"] == 3 * AT_ONCE + 2 * (AT_ONCE // 5) + 1


def inventory() -> Inventory:
    return Inventory.model_validate_json((ROOT / "nix" / "inventory.json").read_bytes())


def test_10000_tenants_come_and_go_and_no_uid_is_handed_out_twice(tmp_path: Path) -> None:
    """The allocator under churn: at most 2,000 alive, 10,000 created in all."""
    handed_out: list[int] = []
    alive: dict[str, int] = {}
    with Store(tmp_path / "queue.sqlite3") as store:
        store.migrate()
        for i in range(LIFETIME):
            with store.transaction():
                uid = store.allocate_uid()
            handed_out.append(uid)
            alive[f"t{i:05d}"] = uid
            if len(alive) > AT_ONCE:  # the oldest leaves, as customers do
                alive.pop(next(iter(alive)))
            if i % 500 == 0:  # the writer syncs the branch now and then
                tenants = [RepoTenant(s, "web-1", "pro", (), u) for s, u in alive.items()]
                store.sync_repo(f"{i:040d}", inventory(), tenants)
    assert len(set(handed_out)) == LIFETIME
    assert handed_out == sorted(handed_out)
    assert all(uid in UID_RANGE for uid in handed_out)


def test_the_last_uid_is_the_last(tmp_path: Path) -> None:
    with Store(tmp_path / "queue.sqlite3") as store:
        store.migrate()
        store.raise_next_uid([UID_RANGE.stop - 2])
        with store.transaction():
            assert store.allocate_uid() == UID_RANGE.stop - 1
        with pytest.raises(UidsExhausted), store.transaction():
            store.allocate_uid()


@needs_nix[1]
def test_a_lost_database_never_hands_out_a_removed_tenants_uid(
    client: FlaskClient,
    writer: Writer,
    settings: Settings,
    state_repo: Path,
    clone: Callable[..., LocalGitRepo],
) -> None:
    for slug in ("keeps", "leaves"):
        post_event(client, signup(slug))
    writer.drain_once()
    leaving = json.loads(git(state_repo, "show", "main:tenants/leaves.json"))["uid"]
    kept = json.loads(git(state_repo, "show", "main:tenants/keeps.json"))["uid"]
    assert leaving > kept  # the removed tenant held the highest uid: the risky case
    push_by_hand(clone(), {"tenants/leaves.json": None})
    with lost_database(settings) as (fresh, store):
        repo = repo_for(fresh)
        try:
            Writer(store=store, repo=repo, settings=fresh).head()
            with store.transaction():
                assert store.allocate_uid() == leaving + 1
        finally:
            repo.close()
