"""Deploy engines: the exact command NixOps 2 or colmena runs, or what comin will do by itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

Engine = Literal["nixops", "colmena", "comin"]
ENGINES: Final = ("nixops", "colmena", "comin")
# Engines that run on the hosts themselves: each pulls the branch and switches on its own,
# so the deploy job has nothing to run, no SSH key to hold and no marker it could honestly move.
PULL_ENGINES: Final = frozenset({"comin"})
# comin's Prometheus exporter (services.comin.exporter.port) and what a host reports there.
COMIN_EXPORTER_PORT: Final = 4243
DEPLOYMENT_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
# The engine needs SSH and Nix, not the GitHub token the deploy job holds.
_WITHHELD: Final = ("GITHUB_TOKEN", "GH_TOKEN")


class EngineError(Exception):
    """The engine could not be started at all."""


def command(engine: Engine, hosts: Sequence[str], *, nixops_deployment: str) -> tuple[str, ...]:
    """The argv that deploys exactly `hosts` (inventory names: `[a-z][a-z0-9-]*`)."""
    if not hosts:
        raise ValueError("no hosts to deploy")
    if engine in PULL_ENGINES:
        raise ValueError(f"{engine} pulls on each host; there is no command to run")
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


def pull_explanation(engine: Engine, hosts: Sequence[str], *, head: str, branch: str) -> str:
    """What happens without us when `hosts` pull `head`: for the job log, in place of a run."""
    if not hosts:
        return f"{engine}: no host's system changes at {head[:12]}; nothing will switch"
    return "\n".join(
        [
            (
                f"{engine}: nothing is run from here. Each host pulls {branch} itself (every "
                "services.comin.remotes.*.poller.period, 60 s by default), builds its own "
                f"nixosConfigurations.<host> and switches to {head[:12]}."
            ),
            f"  will switch: {', '.join(hosts)}; every other host evaluates to the system it runs.",
            (
                "  no deployed/<host> marker moves and no GitHub Deployment is created: only a "
                "host knows when it switched."
            ),
            (
                f'  each host reports comin_deployment_info{{commit_id="{head}",status="done"}} '
                f"on :{COMIN_EXPORTER_PORT}/metrics once switched; the bot's worker reads it at "
                "the inventory's exporter address and marks the tenants that commit includes "
                "deployed, and its liveness probe marks them live when their URLs answer (for a "
                "host without a reachable exporter, the probe alone)."
            ),
        ]
    )
