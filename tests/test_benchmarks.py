"""The overhead benchmark runs end to end and prints its tables (no timing is asserted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROUTES = (
    "/health-of-shop/",
    "/products/",
    "/products/<pk>/",
    "/bench/5-queries-4-cache-ops/<pk>/",
)
NUMBER = r"[-+]?\d+(?:\.\d+)?"


@pytest.mark.slow
def test_overhead_benchmark_prints_one_row_per_view() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the script uses its own settings
    result = subprocess.run(
        [sys.executable, "benchmarks/overhead.py", "--rounds", "1", "--requests", "5"],
        cwd=REPO,
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=300,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # One table per clock (CPU time, then wall clock), each with one row per view.
    headers = [
        line
        for line in lines
        if line.startswith("view") and "plain µs" in line and "ours/d-p" in line
    ]
    assert len(headers) == 2, result.stdout
    for route in ROUTES:
        rows = [line for line in lines if line.split(" ", 1)[0] == route]
        assert len(rows) == len(headers), (route, result.stdout)
        for row in rows:
            assert len(re.findall(NUMBER, row[len(route) :])) >= 10, row
    assert "Goal: ours at most 1/5 of django-prometheus's added time" in result.stdout
