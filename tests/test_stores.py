"""What is particular to each store: the codec, Redis keys and retries, database rows."""

from __future__ import annotations

import random
import socket

import pytest
from django.test import Client

from monitoring.recording import metrics as m
from monitoring.recording.aggregate import Bucket, Histogram, SlowQuery
from monitoring.recording.sketch import ZERO_KEY
from monitoring.stores import DatabaseStore, RedisStore, codec, store_from_url
from tests.conftest import Monitored
from tests.servers import REDIS_STORE_URL, redis_client, redis_prefix

NOW = 1_699_999_800


def full_bucket() -> Bucket:
    b = Bucket(NOW - 30, 10)
    b.counters[(m.REQUESTS.name, ("GET", "/items/<int:pk>/", "200"))] = 7
    b.maxima[(m.N_PLUS_ONE_MAX.name, ("default", "f1", "/a/"))] = 12
    hist = Histogram((0.01, 0.1, 1.0), 0.01)
    for value in (0.0, 0.003, 0.05, 0.5, 3.0, 1e-9):
        hist.observe(value)
    b.histograms[(m.REQUEST_DURATION.name, ("GET", "/items/<int:pk>/"))] = hist
    b.add_slow_query(SlowQuery(0.25, NOW - 25.5, "f1", "default", "/a/"))
    b.statements["f1"] = 'SELECT "t"."id" FROM "t" WHERE "t"."x" = ?'
    return b


def test_the_codec_round_trips_every_part_of_a_bucket() -> None:
    original = full_bucket()
    text = codec.dumps(original)
    copy = codec.loads(text, original.start, original.seconds)
    assert copy.counters == original.counters
    assert copy.maxima == original.maxima
    assert copy.slow_queries == original.slow_queries
    assert copy.statements == original.statements
    key = (m.REQUEST_DURATION.name, ("GET", "/items/<int:pk>/"))
    a, b = original.histograms[key], copy.histograms[key]
    assert (b.bounds, b.counts, b.count, b.sum, b.bins) == (
        a.bounds,
        a.counts,
        a.count,
        a.sum,
        a.bins,
    )
    assert ZERO_KEY in b.bins  # type: ignore[operator]
    assert b.quantiles(0.5, 0.99) == a.quantiles(0.5, 0.99)


def test_totals_are_encoded_without_sketches_slow_queries_or_sql() -> None:
    text = codec.dumps(full_bucket(), keep_sketches=False)
    assert "SELECT" not in text and '"k"' not in text
    copy = codec.loads(text, 0, 0, keep_sketches=False)
    hist = next(iter(copy.histograms.values()))
    assert hist.bins is None and hist.count == 6


def test_sketch_bins_are_stored_as_a_dense_run() -> None:
    hist = Histogram((1.0,), 0.01)
    rng = random.Random(1)
    for _ in range(10_000):
        hist.observe(rng.lognormvariate(-3, 0.5))
    doc = codec.encode_histogram(hist)
    assert len(doc["k"]) == max(hist.bins) - min(hist.bins) + 1  # type: ignore[arg-type]
    assert sum(doc["k"]) == 10_000


# -- Redis -----------------------------------------------------------------------------------


@pytest.fixture
def redis_store() -> RedisStore:
    with redis_prefix() as prefix:
        client = redis_client()
        yield RedisStore(client, prefix, clock=lambda: NOW, host="web-1")
        client.close()


def test_a_batch_retried_under_its_id_is_merged_once(redis_store: RedisStore) -> None:
    batch = [full_bucket()]
    redis_store.write(batch, batch_id="batch-1")
    redis_store.write(batch, batch_id="batch-1")  # the reply was lost; sent again
    redis_store.write(batch, batch_id="batch-2")
    window = redis_store.read_window(300, now=NOW)
    assert window.total(m.REQUESTS) == 14
    assert (
        redis_store.read_totals().counters[(m.REQUESTS.name, ("GET", "/items/<int:pk>/", "200"))]
        == 14
    )


def test_every_key_expires_when_its_tier_stops_keeping_it(redis_store: RedisStore) -> None:
    redis_store.write([full_bucket()])
    client = redis_store.client
    for tier in redis_store.tiers:
        start = (NOW - 30) - (NOW - 30) % tier.seconds
        ttl = client.ttl(redis_store.bucket_key(tier.seconds, start))
        expected = start + tier.seconds + redis_store.keep_seconds(tier) - NOW
        assert expected - 5 <= ttl <= expected
    # A host that stops writing disappears after the retention.
    assert 0 < client.ttl(redis_store.totals_key) <= redis_store.retention_seconds
    assert all(client.ttl(key) > 0 for key in client.scan_iter(redis_store.prefix + "*"))


def test_the_url_names_server_database_and_prefix() -> None:
    store = store_from_url(REDIS_STORE_URL + "?prefix=site-a:", retention_hours=6, host="web-9")
    assert isinstance(store, RedisStore)
    assert (store.prefix, store.host, store.retention_seconds) == ("site-a:", "web-9", 6 * 3600)
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6379, 14)
    store.close()


def test_an_unreachable_redis_fails_fast() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = store_from_url(f"redis://127.0.0.1:{port}/0", retention_hours=24)
    with pytest.raises(Exception, match=r"Connection refused|Error 111"):
        store.write([full_bucket()])
    with pytest.raises(Exception, match=r"Connection refused|Error 111"):
        store.read_window(300)


# -- database ----------------------------------------------------------------------------


def test_the_default_store_is_the_sites_database(settings: object) -> None:
    store = store_from_url("database://", retention_hours=24)
    assert isinstance(store, DatabaseStore) and store.using == "default"
    assert store_from_url("database://pg", retention_hours=24).using == "pg"  # type: ignore[attr-defined]


@pytest.mark.django_db(databases=["default"])
def test_the_database_stores_queries_are_not_the_sites(monitored: Monitored) -> None:
    store = DatabaseStore("default")
    Client().get("/t/queries/2/")
    for _ in range(3):
        store.write(monitored.recorder.drain() or [full_bucket()])
        store.read_window(300)
        store.read_totals()
    store.purge()
    window = store.read_window(300)
    queries = window.histogram(m.QUERY_DURATION)
    assert queries is not None and queries.count == 2  # the view's two, none of the store's
    assert window.total(m.REQUESTS) >= 1


@pytest.mark.django_db(databases=["default"])
def test_database_rows_hold_one_bucket_per_tier(monitored: Monitored) -> None:
    from monitoring.models import HostTotals, MetricBucket

    store = DatabaseStore("default", clock=lambda: NOW, host="web-1")
    store.write([full_bucket()])
    store.write([full_bucket()])
    rows = sorted(MetricBucket.objects.values_list("resolution", "start"))
    assert [r for r, _ in rows] == [10, 60, 600, 3600]
    assert all(start % resolution == 0 for resolution, start in rows)
    assert list(HostTotals.objects.values_list("host", "updated")) == [("web-1", NOW)]


def test_redis_writers_racing_for_the_same_keys_lose_nothing(redis_store: RedisStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def writer(index: int) -> None:
        client = redis_client()
        store = RedisStore(client, redis_store.prefix, clock=lambda: NOW, host=f"web-{index % 2}")
        for _ in range(15):
            store.write([full_bucket()])
        client.close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    window = redis_store.read_window(300, now=NOW)
    assert window.total(m.REQUESTS) == 8 * 15 * 7
    hist = window.histogram(m.REQUEST_DURATION)
    assert hist is not None and hist.count == 8 * 15 * 6
