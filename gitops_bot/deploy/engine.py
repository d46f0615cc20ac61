"""Deploy engines: the exact command NixOps 2 or colmena runs to deploy a set of hosts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

Engine = Literal["nixops", "colmena"]
ENGINES: Final = ("nixops", "colmena")
DEPLOYMENT_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# The engine needs SSH and Nix, not the GitHub token the deploy job holds.
_WITHHELD: Final = ("GITHUB_TOKEN", "GH_TOKEN")


class EngineError(Exception):
    """The engine could not be started at all."""


def command(engine: Engine, hosts: Sequence[str], *, nixops_deployment: str) -> tuple[str, ...]:
    """The argv that deploys exactly `hosts` (inventory names: `[a-z][a-z0-9-]*`)."""
    if not hosts:
        raise ValueError("no hosts to deploy")
    if engine == "colmena":
        return ("colmena", "apply", "--on", ",".join(hosts))
    if not DEPLOYMENT_NAME.match(nixops_deployment):
        raise ValueError(f"not a NixOps deployment name: {nixops_deployment!r}")
    # --include takes every argument after it, so it comes last.
    return ("nixops", "deploy", "-d", nixops_deployment, "--include", *hosts)


def run(argv: Sequence[str], *, cwd: Path) -> int:
    """Run the engine in `cwd`, its output straight into ours so the job log shows progress."""
    executable = shutil.which(argv[0])
    if executable is None:
        raise EngineError(f"{argv[0]} is not on PATH")
    env = {key: value for key, value in os.environ.items() if key not in _WITHHELD}
    return subprocess.run([executable, *argv[1:]], cwd=cwd, env=env, check=False).returncode
