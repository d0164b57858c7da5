"""The store contract: one suite that every store implementation must pass.

Add a store to ``STORES`` and it is held to the same windows, merges, totals and
retention as the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from monitoring.recording import metrics as m
from monitoring.recording.aggregate import Bucket, Histogram, SlowQuery
from monitoring.stores.base import BaseStore
from monitoring.stores.database import DatabaseStore
from monitoring.stores.memory import MemoryStore
from monitoring.stores.redis import RedisStore
from tests.servers import redis_client, redis_prefix, require_server

NOW = 1_699_999_800  # a multiple of 600, so every tier aligns with it
BOUNDS = (0.01, 0.1, 1.0)

# The database stores run inside each test's transaction (pytest-django rolls it back).
pytestmark = pytest.mark.django_db(databases=["default", "pg"])


def _sqlite(stack: ExitStack) -> BaseStore:
    return DatabaseStore("default", retention_hours=24, clock=lambda: NOW, host="host-a")


def _postgresql(stack: ExitStack) -> BaseStore:
    from django.db import connections

    require_server("PostgreSQL (the pg database)", connections["pg"].ensure_connection)
    return DatabaseStore("pg", retention_hours=24, clock=lambda: NOW, host="host-a")


def _redis(stack: ExitStack) -> BaseStore:
    prefix = stack.enter_context(redis_prefix())
    client = redis_client()
    stack.callback(client.close)
    return RedisStore(client, prefix, retention_hours=24, clock=lambda: NOW, host="host-a")


STORES: dict[str, Callable[[ExitStack], BaseStore]] = {
    "memory": lambda stack: MemoryStore(retention_hours=24, clock=lambda: NOW),
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "redis": _redis,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[BaseStore]:
    with ExitStack() as stack:
        yield STORES[request.param](stack)


def bucket(
    start: int, requests: int = 1, durations: tuple[float, ...] = (), route: str = "/a/"
) -> Bucket:
    b = Bucket(start, 10)
    b.counters[(m.REQUESTS.name, ("GET", route, "200"))] = requests
    if durations:
        hist = Histogram(BOUNDS, 0.01)
        for value in durations:
            hist.observe(value)
        b.histograms[(m.REQUEST_DURATION.name, ("GET", route))] = hist
    return b


def requests_in(store: BaseStore, seconds: int, now: float = NOW) -> float:
    return store.read_window(seconds, now=now).total(m.REQUESTS)


def test_a_written_bucket_is_read_back_exactly(store: BaseStore) -> None:
    store.write([bucket(NOW - 30, requests=3, durations=(0.005, 0.05, 0.5))])
    window = store.read_window(300, now=NOW)
    assert window.total(m.REQUESTS) == 3
    hist = window.histogram(m.REQUEST_DURATION)
    assert hist is not None
    assert (hist.count, hist.counts) == (3, [1, 1, 1, 0])
    assert hist.sum == pytest.approx(0.555)


def test_the_same_time_slice_written_twice_adds_up(store: BaseStore) -> None:
    store.write([bucket(NOW - 30, requests=2)])
    store.write([bucket(NOW - 30, requests=5)])
    assert requests_in(store, 60) == 7


def test_windows_include_only_buckets_that_overlap_them(store: BaseStore) -> None:
    store.write([bucket(NOW - 40, 1), bucket(NOW - 200, 10), bucket(NOW - 5000, 100)])
    assert requests_in(store, 60) == 1
    assert requests_in(store, 300) == 11
    assert requests_in(store, 24 * 3600) == 111


def test_a_window_longer_than_the_retention_is_refused(store: BaseStore) -> None:
    with pytest.raises(ValueError, match="retention"):
        store.read_window(25 * 3600, now=NOW)


def test_long_windows_read_coarse_tiers(store: BaseStore) -> None:
    store.write([bucket(NOW - 10 * i - 10) for i in range(600)])  # 100 minutes of buckets
    tier = store.tier_for(24 * 3600)
    buckets = store.read_buckets(tier.seconds, NOW - 24 * 3600, NOW)
    assert tier.seconds >= 600
    assert len(buckets) <= 24 * 3600 // tier.seconds + 1
    assert sum(b.counters[(m.REQUESTS.name, ("GET", "/a/", "200"))] for b in buckets) == 600
    assert requests_in(store, 24 * 3600) == 600
    assert requests_in(store, 3600) == 360


def test_percentiles_survive_the_store(store: BaseStore) -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(-3, 1) for _ in range(5000)]
    store.write([bucket(NOW - 10 * (i % 20) - 10, 1, tuple(values[i::20])) for i in range(20)])
    hist = store.read_window(3600, now=NOW).histogram(m.REQUEST_DURATION)
    assert hist is not None and hist.count == 5000
    exact = sorted(values)[int(0.99 * 4999)]
    assert abs(hist.quantile(0.99) - exact) <= 0.01 * exact  # type: ignore[operator]


def test_totals_are_cumulative_and_outlive_the_retention(store: BaseStore) -> None:
    store.write([bucket(NOW - 30 * 3600, 4, (0.2,))])
    store.write([bucket(NOW - 30, 6, (0.02, 2.0))])
    store.purge(now=NOW)
    totals = store.read_totals()
    assert totals.counters[(m.REQUESTS.name, ("GET", "/a/", "200"))] == 10
    hist = totals.histograms[(m.REQUEST_DURATION.name, ("GET", "/a/"))]
    assert (hist.count, hist.counts) == (3, [0, 1, 1, 1])
    assert requests_in(store, 24 * 3600) == 6


def test_purge_removes_what_is_older_than_the_retention(store: BaseStore) -> None:
    store.write([bucket(NOW - 25 * 3600, 1), bucket(NOW - 23 * 3600, 2)])
    store.purge(now=NOW)
    kept = [b for tier in store.tiers for b in store.read_buckets(tier.seconds, 0, NOW)]
    widest = max(tier.seconds for tier in store.tiers)
    assert kept and all(b.start > NOW - 24 * 3600 - widest for b in kept)
    assert requests_in(store, 24 * 3600) == 2


def test_slow_queries_and_statements_survive(store: BaseStore) -> None:
    b = bucket(NOW - 30)
    b.add_slow_query(SlowQuery(0.4, NOW - 25, "abc123", "default", "/a/"))
    b.statements["abc123"] = "SELECT ? FROM t"
    store.write([b])
    window = store.read_window(300, now=NOW)
    assert [(q.fingerprint, q.route, q.duration) for q in window.data.slow_queries] == [
        ("abc123", "/a/", 0.4)
    ]
    assert window.statement("abc123") == "SELECT ? FROM t"


def test_reads_are_copies(store: BaseStore) -> None:
    store.write([bucket(NOW - 30, 1)])
    window = store.read_window(300, now=NOW)
    window.data.counters.clear()
    assert requests_in(store, 300) == 1
