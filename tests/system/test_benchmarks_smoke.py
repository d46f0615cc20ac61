"""The benchmarks still run: each at a tiny size, with nothing asserted about timings."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow

BENCHMARKS = ROOT / "benchmarks"


def bench(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=BENCHMARKS, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_make_bench_writes_every_figure_at_a_tiny_size(tmp_path: Path) -> None:
    report = tmp_path / "performance.md"
    bench("run.py", "--quick", "--output", str(report))
    text = report.read_text()
    for title in (
        "1. Intake",
        "2. Accept to commit",
        "3. GitHub economy",
        "4. Checker",
        "5. Nix evaluation",
        "6. Memory",
        "7. Operator view",
        "8. Recovery after a lost database",
        "9. GitHub snapshot",
        "10. Nix evaluation of one host",
        "11. Writer memory during a burst into a large repo",
        "12. Signup to live",
        "13. /metrics and a tenant's status",
    ):
        assert f"## {title}" in text
    assert "| cores |" in text
    assert not re.search(r"\bnan\b", text)  # every figure was computed


@pytest.mark.parametrize(
    ("script", "row"),
    [("checker.py", "| 10 |"), ("nix_eval.py", "| 10 |"), ("admin_pages.py", "| first page |")],
)
def test_a_script_runs_on_its_own(script: str, row: str) -> None:
    assert row in bench(script, "--runs", "1", "--sizes", "10,20")


def test_the_fleet_size_scripts_run_on_their_own() -> None:
    recovery = bench("recovery.py", "--sizes", "10,20", "--history-pages", "1")
    assert "| local | 10 |" in recovery
    assert "| GitHub (fake) | 20 |" in recovery
    assert "| 20 |" in bench("github_snapshot.py", "--runs", "1", "--sizes", "10,20")
    one_host = ("--one-host", "--per-host", "5", "--runs", "1", "--sizes", "10,20")
    assert "| 20 |" in bench("nix_eval.py", *one_host)


def test_signup_to_live_runs_on_its_own_and_reports_the_share_against_the_engine() -> None:
    out = bench("signup_to_live.py", "--quick", "--engine", "0.1")
    row = next(line for line in out.splitlines() if line.startswith("| no commit window"))
    assert row.endswith("× |")  # the share's ratio to the engine's own time was computed
    assert "stand-in deploy engine" in out


def test_the_scrape_benchmark_reports_its_ratios() -> None:
    report = bench("scrape.py", "--runs", "2", "--sizes", "10,200")
    assert "| 200 | 600 |" in report
    assert "/metrics at 200 events within 2×" in report
