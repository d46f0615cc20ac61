"""engine: the exact argv of each engine, and an engine that is not installed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from gitops_bot.deploy import engine

if TYPE_CHECKING:
    from pathlib import Path


def test_nixops_deploys_the_named_deployment_with_the_hosts_last() -> None:
    assert engine.command("nixops", ["web-1", "web-2"], nixops_deployment="fleet") == (
        "nixops", "deploy", "-d", "fleet", "--include", "web-1", "web-2",
    )  # fmt: skip


def test_colmena_takes_one_comma_separated_node_list() -> None:
    assert engine.command("colmena", ["web-1", "web-2"], nixops_deployment="fleet") == (
        "colmena", "apply", "--on", "web-1,web-2",
    )  # fmt: skip


def test_refuses_no_hosts_and_option_like_deployment_names() -> None:
    with pytest.raises(ValueError, match="no hosts"):
        engine.command("colmena", [], nixops_deployment="fleet")
    with pytest.raises(ValueError, match="deployment name"):
        engine.command("nixops", ["web-1"], nixops_deployment="--all")


def test_a_missing_engine_is_an_error_not_a_failed_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(engine.EngineError, match="colmena is not on PATH"):
        engine.run(["colmena", "apply", "--on", "web-1"], cwd=tmp_path)
