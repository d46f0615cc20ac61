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


def test_every_dev_package_is_pinned_in_the_lock() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
    }
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    names = {entry.split(">")[0].split("=")[0].strip().lower() for entry in dev}
    assert {"pytest-timeout", "pytest-cov"} <= names
    assert names <= pinned


def test_every_test_has_a_time_limit() -> None:
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["timeout"] >= 60
