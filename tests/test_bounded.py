"""Bounded memory: 100,000 distinct paths, statements and cache keys keep the series bounded."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import pytest

from monitoring import config
from monitoring.recording import metrics as m
from monitoring.recording import recorder as recorder_module
from monitoring.recording.aggregate import Bucket
from monitoring.recording.context import RequestState
from monitoring.recording.recorder import Recorder
from monitoring.recording.sql import FINGERPRINT_CACHE_SIZE, fingerprint_sql
from tests.conftest import Clock

N = 100_000

pytestmark = pytest.mark.slow


def request_for(route: str) -> SimpleNamespace:
    return SimpleNamespace(resolver_match=SimpleNamespace(route=route))


def flood(recorder: Recorder, start: int, count: int) -> list[Bucket]:
    drained = []
    for i in range(start, start + count):
        if i % 1000 == 0:
            drained += recorder.drain()  # what the flusher thread does every few seconds
        state = RequestState(request_for(f"path/{i}/"))
        # Literal values inlined into SQL text: each statement text is distinct.
        recorder.record_query(
            "default", "", f"SELECT * FROM t{i % 7} WHERE id = {i}", 0.001, state
        )
        recorder.record_query("default", "", f"SELECT col_{i} FROM t", 0.001, state)
        recorder.record_cache_read("default", f"key{i}:{i}", hit=bool(i % 2), state=state)
        recorder.record_request(state, "GET", 200, 0.01)
    return drained


def series_names(buckets: list[Bucket]) -> dict[str, set[tuple[str, ...]]]:
    seen: dict[str, set[tuple[str, ...]]] = {}
    for bucket in buckets:
        for source in (bucket.counters, bucket.histograms, bucket.maxima):
            for name, labels in source:
                seen.setdefault(name, set()).add(labels)
    return seen


def test_distinct_values_fold_into_other_beyond_the_bounds() -> None:
    cfg = config.get_config()
    recorder = Recorder(cfg, clock=Clock())
    buckets = []
    for start in range(0, N, 10_000):
        buckets += flood(recorder, start, 10_000)
        buckets += recorder.drain()
    seen = series_names(buckets)
    routes = {labels[1] for labels in seen[m.REQUESTS.name]}
    assert len(routes) == cfg["MAX_ROUTES"] + 1 and "other" in routes
    fingerprints = {labels[2] for labels in seen[m.FINGERPRINT_DURATION.name]}
    assert len(fingerprints) == cfg["MAX_FINGERPRINTS"] + 1
    prefixes = {labels[1] for labels in seen[m.CACHE_GETS.name]}
    assert len(prefixes) == cfg["MAX_CACHE_PREFIXES"] + 1
    overflow = {labels[0] for labels in seen[m.LABEL_OVERFLOW.name]}
    assert overflow == {"route", "fingerprint", "prefix"}
    assert fingerprint_sql.cache_info().currsize <= FINGERPRINT_CACHE_SIZE


def test_memory_stops_growing_once_the_bounds_are_reached() -> None:
    recorder = Recorder(config.get_config(), clock=Clock())
    flood(recorder, 0, 20_000)  # reach every bound first
    recorder.drain()
    tracemalloc.start()
    try:
        flood(recorder, 20_000, 20_000)
        recorder.drain()
        after_first, _ = tracemalloc.get_traced_memory()
        flood(recorder, 40_000, N - 40_000)
        recorder.drain()
        after_rest, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 60,000 more distinct paths, statements and keys added (almost) nothing: unbounded,
    # their label values alone would take several megabytes.
    assert after_rest - after_first < 1024 * 1024


def test_the_pending_queue_is_bounded_and_drops_are_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_PENDING", 100)
    woken: list[int] = []
    recorder = Recorder(config.get_config(), clock=Clock())
    recorder.on_backlog = lambda: woken.append(len(recorder.pending))
    monkeypatch.setattr(recorder_module, "WAKE_AT", 50)
    for i in range(150):
        recorder.record_query("default", "", f"SELECT {i}", 0.001, None)
    assert len(recorder.pending) == 100
    assert woken == [51]
    buckets = recorder.drain()
    assert sum(b.counters.get((m.DROPPED_RECORDS.name, ()), 0) for b in buckets) == 50
    hist = sum(
        h.count
        for b in buckets
        for (name, _), h in b.histograms.items()
        if name == m.FINGERPRINT_DURATION.name
    )
    assert hist == 100
