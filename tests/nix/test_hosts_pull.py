"""nix/hosts/pull.nix: a host the inventory says pulls runs comin on the state repo's branch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nix_helpers import INVENTORY, NIX_DIR, NIXPKGS_LIB, needs_nix, nix_eval, nix_path, nix_str

pytestmark = [
    *needs_nix,
    pytest.mark.skipif(
        not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
        reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the module itself",
    ),
]

REPOSITORY = "https://github.com/example/fleet-state.git"


def inventory_file(tmp_path: Path, **hosts: dict[str, Any]) -> Path:
    data = json.loads(INVENTORY.read_text())
    data["hosts"] = {
        name: {"address": f"{name}.fleet.example.net", "capacity": 10, **fields}
        for name, fields in hosts.items()
    }
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(data))
    return path


def evaluate(
    inventory: Path,
    host: str,
    *,
    config: str = "",
    with_comin: bool = True,
    repository: str | None = REPOSITORY,
) -> subprocess.CompletedProcess[str]:
    if repository is not None:
        config = f"fleet.pull.repository = {nix_str(repository)}; {config}"
    settings = f"{{ {config} }}"
    expression = (
        f"import {nix_path(NIX_DIR / 'tests' / 'pull-eval.nix')} {{ "
        f"nixpkgsLib = {nix_path(Path(NIXPKGS_LIB))}; inventoryFile = {nix_path(inventory)}; "
        f"hostName = {nix_str(host)}; withComin = {'true' if with_comin else 'false'}; "
        f"config = {settings}; }}"
    )
    return subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def result(inventory: Path, host: str, **options: Any) -> dict[str, Any]:
    done = evaluate(inventory, host, **options)
    assert done.returncode == 0, done.stderr
    value: dict[str, Any] = json.loads(done.stdout)
    return value


def test_a_pulling_host_runs_comin_on_the_branch_with_a_token_outside_the_store(
    tmp_path: Path,
) -> None:
    inventory = inventory_file(tmp_path, **{"web-2": {"deploy": "comin"}})
    out = result(inventory, "web-2")
    comin = out["comin"]
    assert out["failedAssertions"] == []
    assert comin["enable"] is True
    assert comin["hostname"] == "web-2"
    assert comin["remotes"] == [
        {
            "name": "origin",
            "url": REPOSITORY,
            "auth": {"access_token_path": "/var/lib/secrets/comin-state-repo-token"},
            "branches": {"main": {"name": "main"}},
            "poller": {"period": 60},
        }
    ]
    # No address in the inventory: the exporter stays on loopback, where the bot cannot see.
    assert comin["exporter"] == {"listen_address": "127.0.0.1", "port": 4243, "openFirewall": False}


def test_the_exporter_listens_where_the_inventory_says(tmp_path: Path) -> None:
    inventory = inventory_file(
        tmp_path,
        **{
            "web-2": {"deploy": "comin", "exporter": "10.0.0.2:9243"},
            "web-3": {"deploy": "comin", "exporter": "[fd00::3]:4243"},
        },
    )
    assert result(inventory, "web-2")["comin"]["exporter"] == {
        "listen_address": "10.0.0.2",
        "port": 9243,
        "openFirewall": True,
    }
    assert result(inventory, "web-3")["comin"]["exporter"]["listen_address"] == "[fd00::3]"


def test_branch_period_and_a_public_repository_without_token(tmp_path: Path) -> None:
    inventory = inventory_file(tmp_path, **{"web-2": {"deploy": "comin"}})
    config = 'fleet.pull = { branch = "production"; period = 15; tokenFile = null; };'
    (remote,) = result(inventory, "web-2", config=config)["comin"]["remotes"]
    assert remote["branches"]["main"]["name"] == "production"
    assert remote["poller"]["period"] == 15
    assert remote["auth"]["access_token_path"] == ""


def test_a_pushed_host_does_not_run_comin(tmp_path: Path) -> None:
    inventory = inventory_file(tmp_path, **{"web-1": {}, "web-2": {"deploy": "comin"}})
    out = result(inventory, "web-1")
    assert out["comin"]["enable"] is False
    assert out["failedAssertions"] == []
    # Nor does a pushed host need comin's module at all: flake.nix adds it to pullers only.
    assert result(inventory, "web-1", with_comin=False)["failedAssertions"] == []


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"with_comin": False}, "comin's NixOS module is not imported"),
        ({"repository": None}, "set fleet.pull.repository"),
        ({"config": 'fleet.pull.tokenFile = "token";'}, "is not an absolute path"),
        ({"config": 'fleet.pull.tokenFile = "/nix/store/x-token";'}, "is in the Nix store"),
    ],
)
def test_a_pulling_host_that_cannot_pull_fails_with_a_reason(
    tmp_path: Path, options: dict[str, Any], says: str
) -> None:
    inventory = inventory_file(tmp_path, **{"web-2": {"deploy": "comin"}})
    out = result(inventory, "web-2", **options)
    assert any(says in message for message in out["failedAssertions"]), out["failedAssertions"]


def test_every_host_gets_the_pull_module() -> None:
    hosts = nix_path(NIX_DIR / "hosts")
    pull = nix_path(NIX_DIR / "hosts" / "pull.nix")
    assert nix_eval(f'builtins.elem {pull} (import {hosts} "web-1")') is True


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"deploy": "comn"}, 'deploy must be "push" or "comin"'),
        ({"deploy": "comin", "exporter": "10.0.0.2"}, "exporter must be ADDRESS:PORT"),
        ({"exporter": "10.0.0.2:4243"}, 'on a host with "deploy": "comin"'),
    ],
)
def test_a_hand_edited_inventory_entry_fails_with_its_field(
    tmp_path: Path, fields: dict[str, str], says: str
) -> None:
    inventory = inventory_file(tmp_path, **{"web-2": fields})
    out = result(inventory, "web-2")
    assert any(says in message for message in out["failedAssertions"]), out["failedAssertions"]
