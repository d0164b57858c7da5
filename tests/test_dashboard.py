"""dashboard/: summary, series, endpoint table with ratings, system, health score."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client, override_settings

from monitoring import dashboard
from monitoring.recording import metrics as m
from monitoring.recording.aggregate import Bucket, Histogram
from monitoring.stores.memory import MemoryStore
from monitoring.window import Window
from tests.conftest import Clock, Monitored

pytestmark = pytest.mark.django_db


def test_the_dashboard_of_real_traffic(monitored: Monitored) -> None:
    for _ in range(4):
        Client().get("/t/plain/")
    Client().get("/t/queries/3/")
    Client().get("/t/status/503/")
    response = Client().get("/monitoring/dashboard/?window=5m")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["summary"]["requests"]["total"] == 6
    assert body["summary"]["requests"]["errors_5xx"] == 1
    assert body["summary"]["database"]["queries"] == 3
    points = body["series"]["points"]
    assert body["series"]["step_seconds"] == 10
    assert sum(p["requests"] for p in points) == 6
    assert sum(p["errors_5xx"] for p in points) == 1
    assert sum(p["queries"] for p in points) == 3
    routes = {row["route"]: row for row in body["endpoints"]}
    assert routes["/t/plain/"]["requests"] == 4
    assert routes["/t/plain/"]["rating"] == "excellent"
    assert routes["/t/queries/<int:n>/"]["queries_per_request"] == 3
    assert set(body["system"]) == {"cpu", "memory", "disk", "hosts"}
    assert 0 <= body["health_score"] < 100  # one request in six failed
    assert body["alerts"] == []


def window_of(durations: list[float], statuses: list[int] | None = None) -> Window:
    bucket = Bucket(0, 10)
    hist = Histogram((0.1, 1.0), 0.01)
    for value in durations:
        hist.observe(value)
    bucket.histograms[(m.REQUEST_DURATION.name, ("GET", "/a/"))] = hist
    for status in statuses or [200] * len(durations):
        key = (m.REQUESTS.name, ("GET", "/a/", str(status)))
        bucket.counters[key] = bucket.counters.get(key, 0) + 1
    return Window(0, 10, bucket)


@pytest.mark.parametrize(
    ("p95_ms", "expected"),
    [
        (None, None),
        (5, "excellent"),
        (99.9, "excellent"),
        (100, "good"),
        (299, "good"),
        (300, "fair"),
        (999, "fair"),
        (1000, "poor"),
        (30_000, "poor"),
    ],
)
def test_ratings_by_p95(p95_ms: float | None, expected: str | None) -> None:
    assert dashboard.rating(p95_ms) == expected


def test_ratings_are_configurable(settings: Any) -> None:
    settings.MONITORING = {"PERFORMANCE_RATINGS": [[50, "fast"], [500, "acceptable"]]}
    assert [dashboard.rating(v) for v in (10, 50, 499, 500)] == [
        "fast",
        "acceptable",
        "acceptable",
        "poor",
    ]


def test_the_health_score() -> None:
    assert dashboard.health_score(window_of([])) == 100  # no traffic
    assert dashboard.health_score(window_of([0.01] * 100)) == 100
    assert dashboard.health_score(window_of([0.5] * 100)) == 85  # p95 fair
    assert dashboard.health_score(window_of([5.0] * 100)) == 75  # p95 poor
    half_failing = window_of([0.01] * 100, [200] * 95 + [500] * 5)
    assert dashboard.health_score(half_failing) == 80  # 5% errors: 20 points
    all_failing = window_of([5.0] * 100, [500] * 100)
    assert dashboard.health_score(all_failing) == 35  # errors capped at 40, latency 25


def test_a_long_window_reads_coarse_buckets_once(monitored: Monitored, clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    for minute in range(0, 24 * 60, 7):
        bucket = window_of([0.02]).data
        bucket.start = int(clock.now) - 24 * 3600 + minute * 60
        store.write([bucket])
    body = dashboard.dashboard(store, 24 * 3600, [])
    assert body["series"]["step_seconds"] == 3600
    assert len(body["series"]["points"]) <= 25
    assert (
        sum(p["requests"] for p in body["series"]["points"])
        == body["summary"]["requests"]["total"]
    )


def test_the_hosts_sampled_by_the_service(clock: Clock) -> None:
    from monitoring.service import sample_step

    store = MemoryStore(clock=clock)
    with override_settings(MONITORING={"STORE_URL": "memory://", "HOST": "web-1"}):
        sample_step(store, clock.now - 20)
    bucket = Bucket(int(clock.now - 10) // 10 * 10, 10)
    bucket.maxima[(m.SYSTEM.name, ("web-2", "cpu"))] = 97.5
    store.write([bucket])
    hosts = dashboard.dashboard(store, 300, [])["system"]["hosts"]
    assert set(hosts) == {"web-1", "web-2"}
    assert set(hosts["web-1"]) == {"cpu", "memory", "disk", "load1", "site_processes"}
    assert 0 < hosts["web-1"]["memory"] <= 100
    assert hosts["web-2"] == {"cpu": 97.5}


def test_points_carry_p50_p95_p99_and_routes_their_cache_hit_rate(
    monitored: Monitored, clock: Clock
) -> None:
    store = MemoryStore(clock=clock)
    bucket = window_of([0.01] * 50 + [0.5] * 45 + [3.0] * 5).data
    bucket.start = int(clock.now) // 10 * 10 - 10
    hits = (m.CACHE_ROUTE_GETS.name, ("/a/", "hit"))
    misses = (m.CACHE_ROUTE_GETS.name, ("/a/", "miss"))
    bucket.counters[hits], bucket.counters[misses] = 3, 1
    store.write([bucket])
    body = dashboard.dashboard(store, 300, [])
    [point] = [p for p in body["series"]["points"] if p["requests"]]
    assert point["p50_ms"] is not None and point["p99_ms"] is not None
    assert point["p50_ms"] < point["p95_ms"] <= point["p99_ms"]
    assert (point["p50_ms"], point["p95_ms"], point["p99_ms"]) == (
        body["endpoints"][0]["p50_ms"],
        body["endpoints"][0]["p95_ms"],
        body["endpoints"][0]["p99_ms"],
    )
    assert body["endpoints"][0]["cache_hit_rate"] == 0.75


def test_a_route_without_cache_reads_has_no_hit_rate(monitored: Monitored) -> None:
    from django.core.cache import cache
    from django.core.management import call_command

    from shop.models import Product

    call_command("seed_shop", stdout=io.StringIO())
    cache.clear()
    pk = Product.objects.order_by("pk").values_list("pk", flat=True).first()
    for _ in range(4):  # a miss, then three hits
        Client().get(f"/products/{pk}/cached/")
    Client().get("/t/plain/")
    body = Client().get("/monitoring/dashboard/").json()
    routes = {row["route"]: row for row in body["endpoints"]}
    assert routes["/products/<int:pk>/cached/"]["cache_hit_rate"] == 0.75
    assert routes["/t/plain/"]["cache_hit_rate"] is None
    point = next(p for p in body["series"]["points"] if p["requests"])
    assert {"p50_ms", "p95_ms", "p99_ms"} <= set(point)


@pytest.mark.django_db
def test_the_dashboard_compares_with_the_active_baseline(clock: Clock) -> None:
    from monitoring.baselines import active_baseline, record_baseline
    from tests.alerting import Traffic

    assert dashboard.dashboard(MemoryStore(clock=clock), 300, [])["baseline"] is None
    before = Traffic().requests("/a/", 60, seconds=0.05).requests("/b/", 60, seconds=0.05)
    record_baseline("release-41", Window(0, 3600, before.bucket), seconds=3600)
    store = MemoryStore(clock=clock)
    bucket = Bucket(int(clock.now - 10) // 10 * 10, 10)
    now = Traffic().requests("/a/", 30, seconds=0.2).requests("/b/", 30, seconds=0.05)
    now.requests("/c/", 2)
    bucket.counters, bucket.histograms = now.bucket.counters, now.bucket.histograms
    store.write([bucket])
    section = dashboard.dashboard(store, 300, [], baseline=active_baseline())["baseline"]
    assert section["name"] == "release-41" and section["window_seconds"] == 3600
    assert section["min_requests"] == 5
    routes = section["routes"]
    assert routes["/a/"]["verdict"] == "regressed" and routes["/a/"]["p95_ratio"] > 3
    assert routes["/a/"]["baseline_p95_ms"] == pytest.approx(50, rel=0.02)
    assert routes["/b/"]["verdict"] == "ok"
    assert routes["/c/"]["verdict"] == "too few requests"


@pytest.mark.django_db
def test_the_dashboard_endpoint_carries_the_baseline(monitored: Monitored) -> None:
    from monitoring.baselines import record_baseline

    Client().get("/t/plain/")
    record_baseline("now", monitored.window(300), seconds=300)
    body = Client().get("/monitoring/dashboard/").json()
    assert body["baseline"]["name"] == "now"
    assert body["baseline"]["routes"]["/t/plain/"]["verdict"] == "too few requests"
