"""The background service in one process: a cycle's steps, the lease, the fence, stopping.
(Several real copies at once: test_service_processes.py.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from monitoring import runtime, service
from monitoring.alerts.service import NotLeading, evaluate_alerts, to_datetime
from monitoring.leader import BaseLease, DatabaseLease, RedisLease
from monitoring.models import AlertEvent, AlertState
from monitoring.recording import metrics as m
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, write_traffic
from tests.conftest import Clock, Monitored
from tests.servers import redis_client, redis_prefix


@pytest.mark.django_db
def test_one_cycle_runs_every_step_and_beats(
    monitored: Monitored, caplog: pytest.LogCaptureFixture
) -> None:
    AlertEvent.objects.create(
        rule="old",
        severity="warning",
        from_state="ok",
        to_state="pending",
        threshold=1,
        window_seconds=300,
        at=to_datetime(1_000_000.0),  # far older than the 90 days kept
    )
    with override_settings(MONITORING={"STORE_URL": "memory://", "HOST": "web-7"}):
        with caplog.at_level(logging.INFO, logger="monitoring.service"):
            call_command("run_monitoring", "--once")
        store = runtime.get_store()
        assert store.last_beat("run_monitoring") is not None
        assert store.last_beat("run_monitoring@web-7") is not None
        window = store.read_window(60)
    assert AlertEvent.objects.count() == 0
    sampled = {labels["resource"] for labels, _ in window.series(m.SYSTEM, host="web-7")}
    assert sampled == {"cpu", "memory", "disk", "load1", "site_processes"}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "monitoring.service"]
    assert line.startswith("cycle (leader) in ")
    assert "system: cpu " in line and "site processes" in line
    assert "alerts: health 100, 0 firing, 0 pending, 0 transitions" in line
    assert "delivery: 0 sent" in line and "cleanup: 1 history entries" in line


@pytest.mark.django_db
def test_a_failing_step_is_logged_and_the_others_run(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(service, "evaluate_step", broken)
    with caplog.at_level(logging.INFO, logger="monitoring.service"):
        report = service.run_cycle()
    assert report.failed == ["alerts"] and set(report.done) == {"system", "delivery", "cleanup"}
    assert "The alerts step failed" in caplog.text
    # No evaluation happened: the service's heartbeat is not renewed (health sees it).
    assert runtime.get_store().last_beat("run_monitoring") is None
    with pytest.raises(CommandError, match="cycle failed in: alerts"):
        call_command("run_monitoring", "--once")


@pytest.mark.django_db
def test_the_service_does_not_record_its_own_queries(monitored: Monitored) -> None:
    service.run_cycle()
    window = monitored.window()
    assert list(window.series(m.FINGERPRINT_DURATION)) == []
    assert list(window.series(m.QUERY_DURATION)) == []


@pytest.mark.django_db
def test_a_stop_request_ends_the_cycle_after_the_current_step(monitored: Monitored) -> None:
    stop = threading.Event()
    stop.set()
    report = service.run_cycle(stop=stop)
    assert report.done == {}


@pytest.fixture(params=["database", "redis"])
def leases(request: pytest.FixtureRequest) -> Iterator[tuple[BaseLease, BaseLease]]:
    if request.param == "database":
        request.getfixturevalue("db")
        yield DatabaseLease(10, "a"), DatabaseLease(10, "b")
        return
    client = redis_client()
    with redis_prefix() as prefix:
        yield RedisLease(client, prefix, 10, "a"), RedisLease(client, prefix, 10, "b")


@pytest.mark.django_db
def test_one_holder_at_a_time_and_takeover_after_expiry() -> None:
    # Database leases expire by the callers' clocks, passed in here; Redis leases by
    # Redis's own clock (test_redis_lease_expires_by_itself).
    a, b = DatabaseLease(10, "a"), DatabaseLease(10, "b")
    assert a.hold(1000) and not b.hold(1001)
    assert a.hold(1009)  # renewed: now valid until 1019
    assert not b.hold(1015)
    assert b.hold(1020) and b.token == a.token + 1  # type: ignore[operator]
    assert not a.renew(1021) and a.token is None  # the stale holder learns it lost
    assert not a.hold(1021)
    b.release()
    assert a.hold(1022)
    assert a.current()["holder"] == "a"


def test_redis_lease_expires_by_itself() -> None:
    import time

    client = redis_client()
    with redis_prefix() as prefix:
        a = RedisLease(client, prefix, 0.3, "a")
        b = RedisLease(client, prefix, 0.3, "b")
        assert a.hold() and not b.hold()
        assert a.current()["holder"] == "a"
        assert client.get(f"{prefix}lease:run_monitoring") is not None
        time.sleep(0.4)
        assert b.hold() and b.token == a.token + 1  # type: ignore[operator]
        assert not a.renew()
        b.release()
        assert a.hold()


def test_both_leases_release_to_the_other(leases: tuple[BaseLease, BaseLease]) -> None:
    a, b = leases
    assert a.hold() and not b.hold()
    a.release()
    assert b.hold() and not a.hold()


@pytest.mark.django_db
def test_a_follower_only_samples(monitored: Monitored) -> None:
    leader, follower = DatabaseLease(60, "leader"), DatabaseLease(60, "follower")
    assert leader.hold()
    report = service.run_cycle(lease=follower)
    assert not report.leading and set(report.done) == {"system"}


@pytest.mark.django_db
@pytest.mark.django_db
def test_an_evaluation_is_not_recorded_once_the_lease_is_lost(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    write_traffic(store, Traffic().requests("/a/", 5).connection_errors(1), clock.now - 5)
    with pytest.raises(NotLeading):
        evaluate_alerts(store, fence=lambda: False)
    assert AlertState.objects.count() == AlertEvent.objects.count() == 0
    assert evaluate_alerts(store, fence=lambda: True).firing == 1
