"""The GitHub workflows: linted offline by zizmor and GitHub's workflow schema, and the promises
the deploy design makes about them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def tool(name: str) -> str:
    """A linter from the dev extras: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--color", "never", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(
        (ROOT / ".github" / "workflows" / name).read_text()
    )
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_there_are_the_three_workflows() -> None:
    assert [path.name for path in WORKFLOWS] == ["deploy.yml", "test.yml", "validate.yml"]


def test_zizmor_finds_nothing() -> None:
    result = zizmor(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_github_workflow_schema_accepts_every_workflow() -> None:
    result = schema(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_linters_reject_a_bad_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request_target\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    unparsable = tmp_path / "unparsable.yml"
    unparsable.write_text("on: push\njobs:\n  x:\n    runs-on: 3\n    steps: nope\n")

    assert zizmor(bad).returncode != 0
    assert schema(unparsable).returncode != 0


def test_every_action_is_pinned_by_commit_with_its_version_named() -> None:
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" not in line:
                continue
            ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
            assert PINNED.match(ref), f"{path.name}: {line.strip()}"
            assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{path.name}: {line.strip()}"


def test_every_checkout_keeps_no_credentials_and_permissions_start_empty() -> None:
    for path in WORKFLOWS:
        workflow = load(path.name)
        assert workflow["permissions"] == {}, path.name
        for step in steps(workflow):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, path.name


def test_validate_runs_on_every_pull_request_and_skips_with_if() -> None:
    workflow = load("validate.yml")
    assert workflow["on"] == {"pull_request": None}  # no paths: filter, ever
    jobs = workflow["jobs"]
    assert jobs["plan"]["if"] == jobs["nix"]["if"] == "needs.changes.outputs.state == 'true'"
    assert jobs["validate"]["if"] == "always()"
    assert set(jobs["validate"]["needs"]) == {"changes", "check", "plan", "nix"}
    writers = {name for name, job in jobs.items() if "write" in job["permissions"].values()}
    assert writers == {"comment"}
    assert "uses" not in str(jobs["comment"]["steps"])  # it runs no code from the PR


def test_deploy_runs_one_at_a_time_in_production_with_checked_host_keys() -> None:
    workflow = load("deploy.yml")
    assert workflow["concurrency"] == {"group": "deploy-production", "cancel-in-progress": False}
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert set(workflow["on"]["push"]["paths"]) == {
        "tenants/**",
        "nix/**",
        "flake.nix",
        "flake.lock",
    }
    job = workflow["jobs"]["deploy"]
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "write", "deployments": "write"}
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert "gitops-bot deploy" in commands
    assert "--push-markers" in commands
    for path in WORKFLOWS:
        text = path.read_text()
        assert not re.search(r"StrictHostKeyChecking[ =]+no", text, re.IGNORECASE), path.name
