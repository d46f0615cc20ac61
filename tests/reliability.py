"""What every reliability suite verifies at its end, and where it writes its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_bot.writer.messages import TRAILER
from helpers import ROOT, git, tenant_files
from hygiene import assert_history_clean

FIGURES_DIR = ROOT / "test-output" / "reliability"


def soak_scale() -> int:
    """How many times the reliability suites multiply their counts (SOAK_SCALE, `make soak`)."""
    return max(1, int(os.environ.get("SOAK_SCALE", "1")))


def record_figures(suite: str, source: str, *, soak: bool, **figures: Any) -> None:
    """Keep what a suite ran and found in test-output/reliability/<suite>[-soak].json,
    with the command that reproduces it (`source` is the test module's __file__).

    docs/reliability.md quotes these files; a run overwrites the figures of its suites.
    """
    name = f"{suite}-soak" if soak else suite
    test_file = Path(source).relative_to(ROOT)
    command = f".venv/bin/pytest {test_file}"
    if soak:
        command = f"SOAK_SCALE={soak_scale()} .venv/bin/pytest -m soak {test_file}"
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"suite": name, "command": command, **figures}, indent=2, sort_keys=True)
    (FIGURES_DIR / f"{name}.json").write_text(text + "\n")


def event_trailers(remote: Path, *refs: str) -> Counter[str]:
    """How many commits on `refs` (default: every branch) name each event in a trailer."""
    log = git(remote, "log", f"--format=%(trailers:key={TRAILER},valueonly)", *(refs or ("--all",)))
    return Counter(line.strip() for line in log.splitlines() if line.strip())


@dataclass(frozen=True)
class Verdict:
    """What the end-of-suite checks counted; every figure of loss or duplication should be 0."""

    tenants: int
    lost: int
    duplicated: int
    commits: int
    hygiene_commits: int
    hygiene_blobs: int


def assert_signups_landed_once(
    remote: Path, accepted: Mapping[str, str], tmp_path: Path, *, secrets: tuple[str, ...] = ()
) -> Verdict:
    """Each accepted signup (event id -> slug) is on main exactly once, and the repo is sound.

    Exactly once means one `Gitops-Event` trailer on main and one tenant file whose
    origin is the event; sound means `git fsck --strict` is clean, `gitops-bot check`
    passes on a fresh clone (so no file is invalid or half-written), and the history
    is clean (see hygiene.py).
    """
    trailers = event_trailers(remote, "main")
    files = tenant_files(remote)
    origins = Counter(str(file["origin"]) for file in files.values())
    lost = sorted(
        event_id
        for event_id, slug in accepted.items()
        if trailers[event_id] == 0 or files.get(slug, {}).get("origin") != event_id
    )
    duplicated = sorted(
        event_id for event_id in accepted if trailers[event_id] > 1 or origins[event_id] > 1
    )
    assert not lost, f"{len(lost)} accepted events are not on main: {lost[:10]}"
    assert not duplicated, f"{len(duplicated)} events landed twice: {duplicated[:10]}"
    assert len({accepted[e] for e in accepted}) == len(accepted), "two events share a slug"
    git(remote, "fsck", "--strict", "--no-progress")
    checkout = tmp_path / "fresh-clone"
    subprocess.run(["git", "clone", "--quiet", str(remote), str(checkout)], check=True)
    check = subprocess.run(
        [sys.executable, "-m", "gitops_bot.cli", "check", str(checkout)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    hygiene = assert_history_clean(remote, secrets=secrets)
    return Verdict(
        tenants=len(files),
        lost=len(lost),
        duplicated=len(duplicated),
        commits=int(git(remote, "rev-list", "--count", "main")),
        hygiene_commits=hygiene.commits,
        hygiene_blobs=hygiene.blobs,
    )
