"""nix/package.nix against pyproject.toml: the Nix build asks for what pip would install."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from nix_helpers import NIX_DIR, NIXPKGS_LIB, REPO, needs_nix, nix_eval, nix_path

pytestmark = [
    *needs_nix,
    pytest.mark.skipif(
        not (NIXPKGS_LIB and Path(NIXPKGS_LIB, "default.nix").is_file()),
        reason="set NIXPKGS_LIB to nixpkgs' lib/ folder to evaluate the package",
    ),
]


def _package_arguments() -> dict[str, object]:
    # nixpkgs itself is not here: a python3Packages whose every package is its own name and
    # whose buildPythonApplication returns its arguments shows what the real one would get.
    # Only the forced attributes are evaluated, so src (a store path) is never built.
    expr = f"""
      let
        lib = import {nix_path(Path(NIXPKGS_LIB))};
        python3Packages = builtins.mapAttrs (name: _: name) (builtins.listToAttrs
          (map (name: {{ inherit name; value = null; }}) [
            "flask" "pydantic" "pydantic-settings" "gitpython" "pygithub" "standardwebhooks"
            "gunicorn" "prometheus-client" "dnspython" "shtab" "setuptools"
          ])) // {{ buildPythonApplication = args: args; }};
        drv = import {nix_path(NIX_DIR / "package.nix")} {{
          inherit lib python3Packages; git = "git"; nix = "nix";
        }};
      in {{ inherit (drv) pname version dependencies build-system; }}
    """
    result: dict[str, object] = nix_eval(expr)
    return result


def _pyproject_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        re.split(r"[<>=\[ ;]", entry, maxsplit=1)[0].lower() for entry in project["dependencies"]
    }


def test_the_nix_package_depends_on_exactly_the_projects_dependencies() -> None:
    arguments = _package_arguments()
    # nixpkgs names Python packages by their normalised PyPI names, as pyproject does here.
    assert set(arguments["dependencies"]) == _pyproject_names()  # type: ignore[call-overload]
    assert arguments["build-system"] == ["setuptools"]


def test_the_nix_package_version_is_the_projects() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert _package_arguments()["version"] == project["version"]
    assert _package_arguments()["pname"] == project["name"]
