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
pytestmark = pytest.mark.django_db(databases=["default", "pg", "mysql"])


# A factory gives stores of one backend, for the host it is given; stores of a shared
# backend see each other's buckets.
Factory = Callable[[str], BaseStore]


def _memory(stack: ExitStack) -> Factory:
    return lambda host: MemoryStore(retention_hours=24, clock=lambda: NOW)


def _sqlite(stack: ExitStack) -> Factory:
    return lambda host: DatabaseStore("default", retention_hours=24, clock=lambda: NOW, host=host)


def _postgresql(stack: ExitStack) -> Factory:
    from django.db import connections

    require_server("PostgreSQL (the pg database)", connections["pg"].ensure_connection)
    return lambda host: DatabaseStore("pg", retention_hours=24, clock=lambda: NOW, host=host)


def _mysql(stack: ExitStack) -> Factory:
    from django.db import connections

    require_server("MariaDB/MySQL (the mysql database)", connections["mysql"].ensure_connection)
    return lambda host: DatabaseStore("mysql", retention_hours=24, clock=lambda: NOW, host=host)


def _redis(stack: ExitStack) -> Factory:
    prefix = stack.enter_context(redis_prefix())
    client = redis_client()
    stack.callback(client.close)
    return lambda host: RedisStore(
        client, prefix, retention_hours=24, clock=lambda: NOW, host=host
    )


STORES: dict[str, Callable[[ExitStack], Factory]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "mysql": _mysql,
    "redis": _redis,
}
SHARED = sorted(set(STORES) - {"memory"})


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[BaseStore]:
    with ExitStack() as stack:
        yield STORES[request.param](stack)("host-a")


@pytest.fixture(params=SHARED)
def backend(request: pytest.FixtureRequest) -> Iterator[Factory]:
    """Stores of one shared backend (every store but memory), by host."""
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


def test_separate_writes_merge_sketches_exactly(store: BaseStore) -> None:
    rng = random.Random(5)
    values = [rng.lognormvariate(-4, 1.5) for _ in range(3000)]
    for i in range(30):  # 30 writes into the same tier buckets, sketches merged by the store
        store.write([bucket(NOW - 10 * (i % 3) - 10, 1, tuple(values[i::30]))])
    for seconds in (60, 3600, 24 * 3600):
        hist = store.read_window(seconds, now=NOW).histogram(m.REQUEST_DURATION)
        assert hist is not None and hist.count == 3000
        assert hist.sum == pytest.approx(sum(values))
        for q in (0.5, 0.95, 0.99):
            exact = sorted(values)[int(q * 2999)]
            assert abs(hist.quantile(q) - exact) <= 0.01 * exact  # type: ignore[operator]


def test_maxima_keep_the_largest_and_slow_queries_the_slowest(store: BaseStore) -> None:
    for i in range(60):
        b = bucket(NOW - 30)
        b.maxima[(m.N_PLUS_ONE_MAX.name, ("default", "abc", "/a/"))] = float(i % 17)
        b.add_slow_query(SlowQuery(0.1 + i / 1000, NOW - 30, f"f{i}", "default", "/a/"))
        store.write([b])
    window = store.read_window(300, now=NOW)
    assert window.data.maxima[(m.N_PLUS_ONE_MAX.name, ("default", "abc", "/a/"))] == 16
    kept = sorted(q.fingerprint for q in window.data.slow_queries)
    assert kept == sorted(f"f{i}" for i in range(10, 60))  # the 50 slowest


def test_a_histogram_with_new_buckets_replaces_the_old_series(store: BaseStore) -> None:
    store.write([bucket(NOW - 30, 1, (0.05,))])
    changed = bucket(NOW - 30, 1)
    hist = Histogram((0.5, 5.0), 0.01)
    hist.observe(0.7)
    changed.histograms[(m.REQUEST_DURATION.name, ("GET", "/a/"))] = hist
    store.write([changed])
    merged = store.read_window(300, now=NOW).histogram(m.REQUEST_DURATION)
    assert merged is not None
    assert (list(merged.bounds), merged.counts, merged.count) == ([0.5, 5.0], [0, 1, 0], 1)
    assert store.read_window(300, now=NOW).total(m.REQUESTS) == 2


def test_windows_are_fleet_wide_and_totals_per_host(backend: Factory) -> None:
    a, b = backend("host-a"), backend("host-b")
    a.write([bucket(NOW - 30, 3, (0.01, 0.02, 0.03))])
    b.write([bucket(NOW - 20, 4, (0.04,) * 4)])
    b.write([bucket(NOW - 10, 1, (0.05,))])
    for store in (a, b, backend("host-c")):
        window = store.read_window(300, now=NOW)
        assert window.total(m.REQUESTS) == 8
        assert window.histogram(m.REQUEST_DURATION).count == 8  # type: ignore[union-attr]
    key = (m.REQUESTS.name, ("GET", "/a/", "200"))
    assert a.read_totals().counters[key] == 3
    assert b.read_totals().counters[key] == 5
    assert backend("host-c").read_totals().is_empty()


def test_every_process_of_a_host_adds_to_its_totals(backend: Factory) -> None:
    workers = [backend("host-a") for _ in range(5)]
    for i, worker in enumerate(workers):
        worker.write([bucket(NOW - 10 * i - 10, i + 1, (0.01,) * (i + 1))])
    totals = backend("host-a").read_totals()
    assert totals.counters[(m.REQUESTS.name, ("GET", "/a/", "200"))] == 15
    assert totals.histograms[(m.REQUEST_DURATION.name, ("GET", "/a/"))].count == 15


@pytest.mark.parametrize("seconds", [60, 300, 900, 3600, 3 * 3600, 5 * 3600])
def test_windows_combine_tiers_without_counting_anything_twice(
    store: BaseStore, seconds: int
) -> None:
    now = NOW - 3 * 3600 - 7  # falls inside buckets of every width
    starts = range(now - 6 * 3600, now + 1, 10)
    store.clock = lambda: now  # type: ignore[method-assign]
    store.write([bucket(start - start % 10) for start in starts])
    finest = min(t.seconds for t in store.tiers if store.keep_seconds(t) >= seconds)
    since = now - seconds
    first = since - since % finest  # the bucket holding the window's start counts whole
    expected = sum(1 for start in starts if first <= start - start % 10 <= now)
    assert requests_in(store, seconds, now=now) == expected
    spans = store.plan(since, now)
    read = sum((span.last - span.first) // span.seconds + 1 for span in spans)
    assert read <= 2 * sum(6 for _ in store.tiers) + 1  # a handful, not seconds / 10


def test_a_late_write_to_an_old_bucket_shows_in_the_next_read(store: BaseStore) -> None:
    store.write([bucket(NOW - 2 * 3600, 2, (0.01, 0.02)), bucket(NOW - 30, 1, (0.03,))])
    assert requests_in(store, 24 * 3600) == 3
    window = store.read_window(24 * 3600, now=NOW)
    window.data.histograms.clear()  # a reader changing its copy changes nothing stored
    assert requests_in(store, 24 * 3600) == 3
    store.write([bucket(NOW - 2 * 3600, 5, (0.5,) * 5)])  # a batch retried after an outage
    window = store.read_window(24 * 3600, now=NOW)
    assert window.total(m.REQUESTS) == 8
    assert window.histogram(m.REQUEST_DURATION).count == 8  # type: ignore[union-attr]


def test_heartbeats_are_kept_by_name(backend: Factory) -> None:
    a, b = backend("host-a"), backend("host-b")
    assert a.last_beat("service") is None
    a.beat("service", NOW - 30)
    assert b.last_beat("service") == NOW - 30  # seen from every host
    b.beat("service")
    assert a.last_beat("service") == NOW
    assert a.last_beat("other") is None
