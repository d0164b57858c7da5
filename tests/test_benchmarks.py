"""The benchmarks run end to end and print their tables (no timing is asserted)."""

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


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/<script>`` (it configures Django itself); fail on a non-zero exit."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, f"benchmarks/{script}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        encoding="utf-8",
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.slow
def test_overhead_benchmark_prints_one_row_per_view() -> None:
    result = run_benchmark("overhead.py", "--rounds", "1", "--requests", "5")
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


STORES = ("memory", "sqlite", "postgresql", "redis")
SECTIONS = ("1. Flush cost", "2. Window reads", "3. Prometheus scrape")


def _sections(lines: list[str]) -> dict[str, list[str]]:
    """The lines under each of the three numbered headings."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        heading = next((s for s in SECTIONS if line.startswith(s)), None)
        if heading is not None:
            current = found[heading] = []
        elif current is not None:
            current.append(line)
    return found


@pytest.mark.slow
def test_store_benchmark_prints_its_figures() -> None:
    result = run_benchmark("stores.py", "--quick")
    lines = result.stdout.splitlines()
    skipped = {line.split(":", 1)[0] for line in lines if ": skipped, no server at" in line}
    assert not skipped & {"memory", "sqlite"}, result.stdout
    if os.environ.get("CI") == "true":  # CI provides every server: none may be skipped
        assert not skipped, result.stdout
    reachable = [store for store in STORES if store not in skipped]
    sections = _sections(lines)
    assert list(sections) == list(SECTIONS), result.stdout
    for heading, body in sections.items():
        for store in reachable:
            rows = [line for line in body if line.split(" ", 1)[0] == store]
            assert rows, (heading, store, result.stdout)
            if heading.startswith("3.") and store == "memory":
                assert all("n/a" in row for row in rows), rows
                continue
            for row in rows:
                assert len(re.findall(NUMBER, row[len(store) :])) >= 6, row
    reads = sections[SECTIONS[1]]
    for store in reachable:
        windows = [line.split()[1:3] for line in reads if line.split(" ", 1)[0] == store]
        assert windows == [["24", "h"], ["1", "h"], ["5", "min"]], (store, reads)
