"""Bounded memory: 100,000 distinct paths, statements and cache keys keep the series bounded."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import pytest

from monitoring import config
from monitoring.recording import metrics as m
from monitoring.recording.context import RequestState
from monitoring.recording.recorder import Recorder
from monitoring.recording.sql import FINGERPRINT_CACHE_SIZE, fingerprint_sql
from tests.conftest import Clock

N = 100_000

pytestmark = pytest.mark.slow


def request_for(route: str) -> SimpleNamespace:
    return SimpleNamespace(resolver_match=SimpleNamespace(route=route))


def flood(recorder: Recorder, start: int, count: int) -> None:
    for i in range(start, start + count):
        state = RequestState(request_for(f"path/{i}/"))
        # Literal values inlined into SQL text: each statement text is distinct.
        recorder.record_query(
            "default", "", f"SELECT * FROM t{i % 7} WHERE id = {i}", 0.001, state
        )
        recorder.record_query("default", "", f"SELECT col_{i} FROM t", 0.001, state)
        recorder.record_cache_read("default", f"key{i}:{i}", hit=bool(i % 2), state=state)
        recorder.record_request(state, "GET", 200, 0.01)


def series_names(recorder: Recorder) -> dict[str, set[tuple[str, ...]]]:
    seen: dict[str, set[tuple[str, ...]]] = {}
    for bucket in recorder.drain():
        for source in (bucket.counters, bucket.histograms, bucket.maxima):
            for name, labels in source:
                seen.setdefault(name, set()).add(labels)
    return seen


def test_distinct_values_fold_into_other_beyond_the_bounds() -> None:
    cfg = config.get_config()
    recorder = Recorder(cfg, clock=Clock())
    flood(recorder, 0, N)
    seen = series_names(recorder)
    routes = {labels[1] for labels in seen[m.REQUESTS.name]}
    assert len(routes) == cfg["MAX_ROUTES"] + 1 and "other" in routes
    fingerprints = {labels[0] for labels in seen[m.FINGERPRINT_DURATION.name]}
    assert len(fingerprints) == cfg["MAX_FINGERPRINTS"] + 1
    prefixes = {labels[1] for labels in seen[m.CACHE_GETS.name]}
    assert len(prefixes) == cfg["MAX_CACHE_PREFIXES"] + 1
    overflow = {labels[0] for labels in seen[m.LABEL_OVERFLOW.name]}
    assert overflow == {"route", "fingerprint", "prefix"}
    assert fingerprint_sql.cache_info().currsize <= FINGERPRINT_CACHE_SIZE


def test_memory_stops_growing_once_the_bounds_are_reached() -> None:
    recorder = Recorder(config.get_config(), clock=Clock())
    flood(recorder, 0, 20_000)  # reach every bound first
    tracemalloc.start()
    try:
        flood(recorder, 20_000, 20_000)
        after_first, _ = tracemalloc.get_traced_memory()
        flood(recorder, 40_000, N - 40_000)
        after_rest, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 60,000 more distinct paths, statements and keys added (almost) nothing.
    assert after_rest - after_first < 256 * 1024
