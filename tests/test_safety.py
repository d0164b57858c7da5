"""Never hurt the host: a broken recorder or store leaves every response as it was."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from monitoring import runtime
from monitoring.recording import metrics as m
from monitoring.recording import safety
from monitoring.recording.recorder import Recorder
from tests.conftest import Monitored

pytestmark = pytest.mark.django_db


def broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("recorder broken on purpose")


@pytest.fixture
def fresh_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "_counts", {})
    monkeypatch.setattr(safety, "_last_logged", {})


@pytest.mark.parametrize(
    "method", ["record_request", "record_query", "record_cache_operation", "record_cache_get"]
)
def test_a_broken_recorder_does_not_change_the_response(
    monitored: Monitored,
    monkeypatch: pytest.MonkeyPatch,
    fresh_errors: None,
    method: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(Recorder, method, broken)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="monitoring"):
        for _ in range(3):
            response = client.get("/t/queries/2/")
            assert (response.status_code, response.content) == (200, b"2")
            cache.set("user:1", "v")
            assert cache.get("user:1") == "v"
    counts = safety.internal_error_counts()
    assert sum(counts.values()) >= 3
    warnings = [r for r in caplog.records if r.name == "monitoring"]
    # Logged once per kind of error within the minute, however often it happened.
    assert len(warnings) == len(counts)
    assert all("request was not affected" in r.getMessage() for r in warnings)


def test_internal_errors_are_exposed_as_a_metric(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, fresh_errors: None
) -> None:
    monkeypatch.setattr(Recorder, "record_request", broken)
    Client().get("/t/plain/")
    Client().get("/t/plain/")
    text = Client().get("/monitoring/metrics/?format=prometheus").content.decode()
    assert 'monitoring_internal_errors_total{kind="request"} 2.0' in text


def test_an_exception_from_the_view_is_unchanged(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, fresh_errors: None
) -> None:
    monkeypatch.setattr(Recorder, "record_request", broken)
    with pytest.raises(ValueError, match="boom"):
        Client().get("/t/boom/")


def test_a_failing_store_loses_nothing_for_the_site(
    monitored: Monitored,
    monkeypatch: pytest.MonkeyPatch,
    fresh_errors: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    Client().get("/t/plain/")
    with caplog.at_level(logging.INFO, logger="monitoring"), monkeypatch.context() as patch:
        patch.setattr(type(runtime.get_store()), "write", broken)
        for _ in range(3):
            runtime.flush()
            assert Client().get("/t/plain/").status_code == 200
        # The store is back: the batches kept in memory arrive, each once.
        patch.undo()
        window = monitored.window()
    assert window.total(m.REQUESTS) == 4
    assert window.total(m.STORE_WRITE_ERRORS) == 3
    assert window.total(m.STORE_LOST_REQUESTS) == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "monitoring.store"]
    assert len(logged) == 2  # once when the outage starts, once when it ends
    assert "cannot be written (RuntimeError)" in logged[0]
    assert "back; 4 delayed batches sent" in logged[1]


def test_metrics_older_than_the_backlog_are_given_up_and_counted(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.MONITORING = {**settings.MONITORING, "STORE_BACKLOG_SECONDS": 1e-6}
    Client().get("/t/plain/")
    Client().get("/t/plain/")
    with monkeypatch.context() as patch:
        patch.setattr(type(runtime.get_store()), "write", broken)
        runtime.flush()
    window = monitored.window()
    assert window.total(m.REQUESTS) == 0
    assert window.total(m.STORE_LOST_REQUESTS) == 2
    assert window.total(m.STORE_WRITE_ERRORS) == 1


def test_errors_are_logged_again_after_a_minute(
    monkeypatch: pytest.MonkeyPatch, fresh_errors: None, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(safety.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="monitoring"):
        for step in (0, 10, 59, 61, 62):
            now[0] = 1000.0 + step
            safety.report_internal_error("query", RuntimeError("x"))
    assert len(caplog.records) == 2
    assert safety.internal_error_counts() == {"query": 5}


@pytest.mark.parametrize(
    "path",
    [
        "/monitoring/metrics/",
        "/monitoring/metrics/?format=prometheus",
        "/monitoring/performance/queries/",
        "/monitoring/performance/cache/",
        "/monitoring/dashboard/",
    ],
)
def test_an_unreadable_store_is_503_not_500(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, fresh_errors: None, path: str
) -> None:
    store_class = type(runtime.get_store())
    for method in ("read_window", "read_totals", "read_documents"):
        monkeypatch.setattr(store_class, method, broken)
    response = Client().get(path)
    assert (response.status_code, response.json()) == (
        503,
        {"error": "the metric store cannot be read"},
    )
    assert safety.internal_error_counts() == {"store": 1}
    assert Client().get("/t/plain/").status_code == 200  # the site itself is untouched
