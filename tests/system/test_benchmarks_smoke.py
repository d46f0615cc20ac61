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
        "8. /metrics and a tenant's status",
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


def test_the_scrape_benchmark_reports_its_ratios() -> None:
    report = bench("scrape.py", "--runs", "2", "--sizes", "10,200")
    assert "| 200 | 600 |" in report
    assert "/metrics at 200 events within 2×" in report
