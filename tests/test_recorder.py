"""The recorder on its own: buckets by time, N+1 detection, draining."""

from __future__ import annotations

from types import SimpleNamespace

from monitoring import config
from monitoring.recording import metrics as m
from monitoring.recording.context import RequestState
from monitoring.recording.recorder import Recorder
from tests.conftest import Clock


def state_for(route: str) -> RequestState:
    return RequestState(SimpleNamespace(resolver_match=SimpleNamespace(route=route)))


def test_events_fall_into_buckets_by_time(clock: Clock) -> None:
    recorder = Recorder(config.get_config(), clock=clock)
    clock.now = 1_000_000.0
    recorder.record_request(state_for("a/"), "GET", 200, 0.01)
    clock.advance(9)
    recorder.record_request(state_for("a/"), "GET", 200, 0.01)
    clock.advance(1)
    recorder.record_request(state_for("a/"), "GET", 200, 0.01)
    buckets = recorder.drain()
    assert [(b.start, b.counters[(m.REQUESTS.name, ("GET", "/a/", "200"))]) for b in buckets] == [
        (1_000_000, 2),
        (1_000_010, 1),
    ]
    assert recorder.drain() == []


def test_statements_folded_into_other_are_never_an_n_plus_one(clock: Clock) -> None:
    recorder = Recorder({**config.get_config(), "MAX_FINGERPRINTS": 1}, clock=clock)
    state = state_for("list/")
    for i in range(8):
        recorder.record_query("default", "", f"SELECT * FROM table_{i}", 0.001, state)
    recorder.record_request(state, "GET", 200, 0.02)
    (bucket,) = recorder.drain()
    assert bucket.counters[(m.FINGERPRINT_ROUTES.name, ("other", "/list/"))] == 7
    assert not any(name == m.N_PLUS_ONE.name for name, _ in bucket.counters)


def test_a_repeated_statement_is_an_n_plus_one_with_its_count(clock: Clock) -> None:
    recorder = Recorder(config.get_config(), clock=clock)
    state = state_for("list/")
    for i in range(6):
        recorder.record_query("default", "", f"SELECT * FROM item WHERE id = {i}", 0.001, state)
    recorder.record_request(state, "GET", 200, 0.02)
    (bucket,) = recorder.drain()
    ((_, (route, fingerprint)),) = [k for k in bucket.counters if k[0] == m.N_PLUS_ONE.name]
    assert route == "/list/"
    assert bucket.maxima[(m.N_PLUS_ONE_MAX.name, (route, fingerprint))] == 6
    assert bucket.statements[fingerprint] == "SELECT * FROM item WHERE id = ?"


def test_muted_state_records_nothing(clock: Clock) -> None:
    from monitoring.recording.context import MUTED

    recorder = Recorder(config.get_config(), clock=clock)
    recorder.record_query("default", "", "SELECT 1", 0.001, MUTED)
    recorder.record_cache_get("default", "k:1", True, 0.001, MUTED)
    assert recorder.drain() == []
    assert (MUTED.events, MUTED.queries) == ([], 0)
