"""Shared fixtures: a fresh recorder and store for each test, and a promtool runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from monitoring import config, runtime
from monitoring.recording.recorder import Recorder
from monitoring.stores.memory import MemoryStore
from monitoring.window import Window


class Clock:
    """A settable clock for recorders and stores."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder(clock: Clock) -> Recorder:
    """A recorder built from the default configuration, on a settable clock."""
    return Recorder(config.get_config(), clock=clock)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


class Monitored:
    """The process-wide recorder and store, fresh for one test."""

    def flush(self) -> None:
        runtime.flush()

    @property
    def recorder(self) -> Recorder:
        return runtime.get_recorder()

    def window(self, seconds: float = 300) -> Window:
        runtime.flush()
        return runtime.get_store().read_window(seconds)

    def totals(self):  # type: ignore[no-untyped-def]
        runtime.flush()
        return runtime.get_store().read_totals()


@pytest.fixture
def monitored() -> Iterator[Monitored]:
    """Start every test from an empty process-wide recorder and store."""
    config.reload()
    runtime.get_recorder()
    yield Monitored()
    config.reload()


def run_promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run Debian's promtool; in CI its absence is a failure, never a skip."""
    if shutil.which("promtool") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not installed (Debian package prometheus)")
        pytest.skip("promtool is not installed; scripts/test.sh installs it")
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, timeout=60)


@pytest.fixture
def close_pools() -> Iterator[None]:
    """Close every database connection pool after the test (health probes open them), so
    that no pooled connection outlives the test databases."""
    yield
    from django.db import connections

    for alias in connections:
        if hasattr(connections[alias], "close_pool"):
            connections[alias].close_pool()
