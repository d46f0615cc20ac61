"""`make demo`'s script end to end: a tenant reaches live against the stand-in deploy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, free_port

pytestmark = pytest.mark.slow


def test_the_demo_takes_a_tenant_to_live_and_says_the_deploy_is_a_stand_in(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GITOPS_BOT_")},
        "DEMO_STATE": str(tmp_path / "demo"),
        "DEMO_PORT": str(free_port()),
        "DEMO_STANDIN_SECONDS": "1",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "STAND-IN DEPLOY, not a real one" in out
    statuses = re.findall(r"^  (\w+) +\d+\.\d\d s after the signup", out, flags=re.MULTILINE)
    for status in ("accepted", "committed", "deploying", "deployed", "live"):
        assert status in statuses, out
    assert statuses.index("deploying") < statuses.index("deployed") < statuses.index("live")
    assert "the stand-in finished after its fixed 1 s" in out
    assert "GET / answered 200" in out
    assert "unable to get local issuer certificate" in out  # only the demo's CA vouches for it
    # The demo's earlier parts still run.
    assert "answers: 40 x 202" in out
    assert (tmp_path / "demo" / "standin" / "ca.pem").is_file()
