"""The distribution's metadata: licence, classifiers, project URLs, and the test tooling."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_file_is_mit_and_names_the_authors() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the gitops-bot authors" in text
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_installed_metadata_has_classifiers_and_urls() -> None:
    meta = metadata.metadata("gitops-bot")
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Typing :: Typed" in classifiers
    urls = dict(entry.split(", ", 1) for entry in meta.get_all("Project-URL") or [])
    assert urls["Source"] == "https://github.com/gitops-bot/gitops-bot"


def _pins(lock: str) -> dict[str, str]:
    """Package name to version, from a lock that `make lock` wrote."""
    pins = {}
    for line in (ROOT / lock).read_text().split("\n"):
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _names(requirements: list[str]) -> set[str]:
    return {
        entry.split(">")[0].split("=")[0].split("[")[0].strip().lower() for entry in requirements
    }


def test_every_pin_in_both_locks_carries_hashes() -> None:
    # pip --require-hashes refuses the whole install otherwise; this says which line.
    for lock in ("requirements.lock", "requirements-dev.lock"):
        lines = (ROOT / lock).read_text().split("\n")
        for number, line in enumerate(lines):
            if "==" in line and not line.startswith((" ", "#")):
                assert line.endswith("\\"), f"{lock}:{number + 1} has no hash"
                assert lines[number + 1].strip().startswith("--hash=sha256:"), lock


def test_the_locks_say_how_they_were_made_and_agree() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert _names(PYPROJECT["project"]["dependencies"]) <= set(runtime)
    dev_tools = _names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    assert {"pytest-timeout", "pytest-cov"} <= dev_tools <= set(dev)
    # The tests run the versions production installs.
    assert {name: dev[name] for name in runtime} == runtime
    makefile = (ROOT / "Makefile").read_text()
    for lock in ("requirements.lock", "requirements-dev.lock"):
        header = (ROOT / lock).read_text().split("\n")[1]
        assert header.startswith("#    uv pip compile pyproject.toml --generate-hashes"), lock
    assert "lock: $(STAMP)" in makefile


def test_workflows_install_only_hashed_pins_then_the_bot_alone() -> None:
    for workflow in ("deploy.yml", "validate.yml"):
        text = (ROOT / ".github" / "workflows" / workflow).read_text()
        assert "--constraint" not in text, workflow
        assert (
            text.count("pip install --require-hashes -r requirements.lock")
            == text.count("pip install --no-deps .")
            >= 1
        ), workflow


def test_every_test_has_a_time_limit() -> None:
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["timeout"] >= 60
