"""Cache recording against Django's real cache backends: what is timed and what is counted.

Every test asserts exact numbers read back from the process-wide store:

* ``cache_operation_duration`` gets one observation per public operation, under that
  operation's name, however many backend methods it calls internally;
* ``cache_gets`` counts hits and misses by key prefix, per key for ``get_many``;
* ``cache_route_gets`` attributes the reads of a request to its route pattern.

The backend tests arrange their data through an *uninstrumented twin* of the cache under
test (the same backend class and location, built without Django's cache handler), so
that only the operation under test is recorded. Each test starts from a fresh recorder
and store (the ``monitored`` fixture); a setting override resets them again, so windows
are read inside the override.
"""

from __future__ import annotations

import fcntl
import io
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils.module_loading import import_string
from prometheus_client.parser import text_string_to_metric_families
from pymemcache.client.base import Client as MemcacheClient

from monitoring.recording import metrics as m
from monitoring.recording.context import muted
from monitoring.recording.safety import internal_error_counts
from monitoring.window import Window
from shop.models import Product
from tests.servers import require_server

if TYPE_CHECKING:
    from tests.conftest import Monitored

REDIS_URL = "redis://127.0.0.1:6379/15"
MEMCACHED_HOST, MEMCACHED_PORT = "127.0.0.1", 11211

# -- reading the store --------------------------------------------------------------------


def operation_counts(window: Window) -> dict[tuple[str, str], int]:
    """Observations of ``cache_operation_duration`` by (cache, operation)."""
    return {
        (labels["cache"], labels["operation"]): hist.count
        for labels, hist in window.series(m.CACHE_OPERATION_DURATION)
    }


def read_counts(window: Window) -> dict[tuple[str, str, str], float]:
    """``cache_gets`` by (cache, prefix, result)."""
    return {
        (labels["cache"], labels["prefix"], labels["result"]): value
        for labels, value in window.series(m.CACHE_GETS)
    }


def route_read_counts(window: Window) -> dict[tuple[str, str], float]:
    """``cache_route_gets`` by (route, result)."""
    return {
        (labels["route"], labels["result"]): value
        for labels, value in window.series(m.CACHE_ROUTE_GETS)
    }


def assert_recorded(
    monitored: Monitored,
    operations: dict[str, int],
    reads: dict[tuple[str, str], int] | None = None,
    cache_alias: str = "default",
) -> None:
    """Exactly ``operations`` (name -> count) and ``reads`` ((prefix, result) -> count)."""
    window = monitored.window()
    assert operation_counts(window) == {
        (cache_alias, name): count for name, count in operations.items()
    }
    assert read_counts(window) == {
        (cache_alias, prefix, result): count for (prefix, result), count in (reads or {}).items()
    }


# -- caches -------------------------------------------------------------------------------


def uninstrumented(entry: dict[str, Any]) -> BaseCache:
    """Build the cache a ``CACHES`` entry describes, bypassing Django's (hooked) handler.

    It shares its data with the instrumented cache of the same entry (same locmem name,
    directory, table or server) but records nothing: the tests arrange data through it.
    """
    params = dict(entry)
    backend = import_string(params.pop("BACKEND"))
    return backend(params.pop("LOCATION", ""), params)


@pytest.fixture(autouse=True)
def _empty_configured_caches() -> Iterator[None]:
    # The shop's views cache under fixed keys: a value left by another test would turn
    # an expected miss into a hit.
    for entry in settings.CACHES.values():
        uninstrumented(entry).clear()
    yield
    for entry in settings.CACHES.values():
        uninstrumented(entry).clear()


@pytest.fixture(autouse=True)
def _no_internal_errors() -> Iterator[None]:
    # The wrappers swallow their own failures; a swallowed failure would show up here
    # before it shows up as a wrong count.
    def cache_errors() -> dict[str, int]:
        counts = internal_error_counts()
        return {kind: counts.get(kind, 0) for kind in ("cache", "instrumentation")}

    before = cache_errors()
    yield
    assert cache_errors() == before


def ping_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    require_server(f"Redis at {REDIS_URL}", client.ping)
    return client


def ping_memcached() -> None:
    client = MemcacheClient((MEMCACHED_HOST, MEMCACHED_PORT), connect_timeout=2, timeout=2)
    try:
        require_server(f"memcached at {MEMCACHED_HOST}:{MEMCACHED_PORT}", client.version)
    finally:
        client.close()


@dataclass
class Backend:
    """The instrumented ``default`` cache of one backend, and its uninstrumented twin."""

    name: str
    cache: BaseCache
    twin: BaseCache
    unique: str

    def key(self, prefix: str, *rest: str) -> str:
        """A key no other test uses, whose prefix label is ``prefix``."""
        return ":".join((prefix, self.unique, *rest))


BACKENDS = ["locmem", "database", "file", "redis", "memcached"]


@contextmanager
def exclusive_redis_db() -> Iterator[None]:
    """Hold db 15 across pytest-xdist workers, empty, for the duration of the block.

    A file lock rather than an ``xdist_group`` mark: ``--dist loadgroup`` does not group
    anything with pytest 9 (pytest-xdist 3.8 renames nodes through an attribute that
    pytest 9 no longer reads), and one worker's FLUSHDB would empty another's keys.
    """
    client = ping_redis()
    with open(Path(tempfile.gettempdir()) / "monitoring-tests-redis-db-15.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client.flushdb()
            yield
        finally:
            client.flushdb()
            client.close()
            fcntl.flock(lock, fcntl.LOCK_UN)


def backend_entry(
    name: str, request: pytest.FixtureRequest, tmp_path: Path, unique: str
) -> dict[str, Any]:
    """The ``CACHES["default"]`` entry of backend ``name``."""
    if name == "locmem":
        return {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"recording-{unique}",
        }
    if name == "database":
        request.getfixturevalue("db")
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "monitoring_test_cache",
        }
    if name == "file":
        return {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    if name == "redis":
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    assert name == "memcached"
    ping_memcached()
    # memcached is shared and never flushed here: a unique prefix keeps tests apart.
    return {
        "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
        "LOCATION": f"{MEMCACHED_HOST}:{MEMCACHED_PORT}",
        "KEY_PREFIX": f"test-{unique}",
    }


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monitored: Monitored
) -> Iterator[Backend]:
    """``caches["default"]`` on a real backend, instrumented like at startup."""
    unique = uuid.uuid4().hex[:12]
    entry = backend_entry(request.param, request, tmp_path, unique)
    # Changing CACHES makes Django's handler create new cache objects, through the
    # create_connection hook that instruments them.
    with ExitStack() as stack:
        if request.param == "redis":
            stack.enter_context(exclusive_redis_db())
        stack.enter_context(override_settings(CACHES={"default": entry}))
        if request.param == "database":
            call_command("createcachetable", verbosity=0)
        twin = uninstrumented(entry)
        yield Backend(request.param, caches["default"], twin, unique)
        if request.param == "locmem":
            twin.clear()


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Call a cache operation by name: ``get``, or its async form ``aget``."""

    def call(cache: BaseCache, operation: str, *args: Any, **kwargs: Any) -> Any:
        if request.param == "sync":
            return getattr(cache, operation)(*args, **kwargs)
        return async_to_sync(getattr(cache, "a" + operation))(*args, **kwargs)

    return call


# -- 1. every operation of every backend, sync and async -----------------------------------


def test_get_of_a_missing_key_is_one_miss(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    assert call(backend.cache, "get", backend.key("user"), "fallback") == "fallback"

    assert_recorded(monitored, {"get": 1}, {("user", "miss"): 1})


def test_get_of_a_present_key_is_one_hit(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")
    backend.twin.set(key, {"name": "Ada"})

    assert call(backend.cache, "get", key) == {"name": "Ada"}

    assert_recorded(monitored, {"get": 1}, {("user", "hit"): 1})


def test_get_of_a_stored_none_is_a_hit(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")
    backend.twin.set(key, None)

    assert call(backend.cache, "get", key, "fallback") is None

    assert_recorded(monitored, {"get": 1}, {("user", "hit"): 1})


def test_set_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")

    call(backend.cache, "set", key, "value", 60)

    assert backend.twin.get(key) == "value"
    assert_recorded(monitored, {"set": 1})


def test_add_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")

    assert call(backend.cache, "add", key, "value", 60) is True

    assert backend.twin.get(key) == "value"
    assert_recorded(monitored, {"add": 1})


def test_delete_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")
    backend.twin.set(key, "value")

    assert call(backend.cache, "delete", key) is True

    assert backend.twin.get(key, "gone") == "gone"
    assert_recorded(monitored, {"delete": 1})


def test_incr_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("counter")
    backend.twin.set(key, 1)

    assert call(backend.cache, "incr", key, 10) == 11

    assert backend.twin.get(key) == 11
    assert_recorded(monitored, {"incr": 1})


def test_decr_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("counter")
    backend.twin.set(key, 5)

    assert call(backend.cache, "decr", key, 2) == 3

    assert backend.twin.get(key) == 3
    assert_recorded(monitored, {"decr": 1})


def test_get_many_counts_each_key(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    present, absent, none = (
        backend.key("user", "present"),
        backend.key("user", "absent"),
        backend.key("product", "none"),
    )
    backend.twin.set_many({present: "value", none: None})

    found = call(backend.cache, "get_many", [present, absent, none])

    assert found == {present: "value", none: None}
    assert_recorded(
        monitored,
        {"get_many": 1},
        {("user", "hit"): 1, ("user", "miss"): 1, ("product", "hit"): 1},
    )


def test_set_many_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    data = {backend.key("user", "a"): "a", backend.key("user", "b"): "b"}

    assert call(backend.cache, "set_many", data, 60) == []

    assert backend.twin.get_many(list(data)) == data
    assert_recorded(monitored, {"set_many": 1})


def test_delete_many_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    data = {backend.key("user", "a"): "a", backend.key("user", "b"): "b"}
    backend.twin.set_many(data)

    call(backend.cache, "delete_many", list(data))

    assert backend.twin.get_many(list(data)) == {}
    assert_recorded(monitored, {"delete_many": 1})


def test_get_or_set_of_a_missing_key_is_one_miss(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    # BaseCache.get_or_set runs get (miss), add, then get again (a hit): only the
    # first read counts, and only get_or_set is timed.
    key = backend.key("user")

    assert call(backend.cache, "get_or_set", key, lambda: "computed", 60) == "computed"

    assert backend.twin.get(key) == "computed"
    assert_recorded(monitored, {"get_or_set": 1}, {("user", "miss"): 1})


def test_get_or_set_of_a_present_key_is_one_hit(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")
    backend.twin.set(key, "cached")

    assert call(backend.cache, "get_or_set", key, "computed", 60) == "cached"

    assert_recorded(monitored, {"get_or_set": 1}, {("user", "hit"): 1})


@pytest.mark.parametrize("present", [True, False], ids=["present", "absent"])
def test_has_key_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored, present: bool
) -> None:
    key = backend.key("user")
    if present:
        backend.twin.set(key, "value")

    assert call(backend.cache, "has_key", key) is present

    assert_recorded(monitored, {"has_key": 1})


def test_touch_is_one_operation_and_no_read(
    backend: Backend, call: Callable[..., Any], monitored: Monitored
) -> None:
    key = backend.key("user")
    backend.twin.set(key, "value", 60)

    assert call(backend.cache, "touch", key, 600) is True

    assert backend.twin.get(key) == "value"
    assert_recorded(monitored, {"touch": 1})


def test_a_sequence_of_operations_adds_up(backend: Backend, monitored: Monitored) -> None:
    # The same counts as the tests above, recorded one after the other on one cache.
    key, other = backend.key("user"), backend.key("product")
    backend.cache.get(key)
    backend.cache.set(key, 1)
    backend.cache.get(key)
    backend.cache.incr(key)
    backend.cache.get_or_set(other, 2)
    backend.cache.get_or_set(other, 3)
    backend.cache.get_many([key, other, backend.key("order")])

    assert_recorded(
        monitored,
        {"get": 2, "set": 1, "incr": 1, "get_or_set": 2, "get_many": 1},
        {
            ("user", "miss"): 1,
            ("user", "hit"): 2,
            ("product", "miss"): 1,
            ("product", "hit"): 2,
            ("order", "miss"): 1,
        },
    )


# -- 2. key prefixes ----------------------------------------------------------------------


def prefix_before_dot(key: str) -> str:
    """A custom CACHE_KEY_PREFIX_FUNCTION: the text before the first dot."""
    head, dot, _ = key.partition(".")
    return head if dot else "undotted"


def test_reads_are_labelled_with_the_text_before_the_first_colon(monitored: Monitored) -> None:
    cache.set("user:1", "Ada")

    cache.get("user:1")
    cache.get("product:9:x")
    cache.get("nocolon")

    assert read_counts(monitored.window()) == {
        ("default", "user", "hit"): 1,
        ("default", "product", "miss"): 1,
        ("default", "<none>", "miss"): 1,
    }


def test_a_custom_key_prefix_function_labels_the_reads(monitored: Monitored) -> None:
    function = f"{__name__}.{prefix_before_dot.__name__}"
    with override_settings(
        MONITORING={**settings.MONITORING, "CACHE_KEY_PREFIX_FUNCTION": function}
    ):
        cache.get("catalogue.books:1")
        cache.get("user:1")

        assert read_counts(monitored.window()) == {
            ("default", "catalogue", "miss"): 1,
            ("default", "undotted", "miss"): 1,
        }


# -- 3. values and keys stay out of the metrics -------------------------------------------


def test_cached_values_never_reach_the_store_or_the_endpoints(
    client: Client, monitored: Monitored
) -> None:
    unique = uuid.uuid4().hex
    secret = f"secret-value-{unique}"
    suffix = f"key-suffix-{unique}"
    key = f"vault:{suffix}"
    cache.set(key, secret)
    assert cache.get(key) == secret
    assert cache.get_many([key, f"{key}:absent"]) == {key: secret}
    assert cache.get_or_set(f"{key}:other", secret) == secret

    prometheus = client.get("/monitoring/metrics/", {"format": "prometheus"})
    summary = client.get("/monitoring/metrics/")

    assert prometheus.status_code == summary.status_code == 200
    for body in (prometheus.content.decode(), summary.content.decode()):
        assert secret not in body
        assert suffix not in body
    # The reads were exposed, under the key prefix only.
    assert {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(prometheus.content.decode())
        for sample in family.samples
        if sample.name == "django_cache_gets_total"
    } == {
        (("cache", "default"), ("prefix", "vault"), ("result", "hit")): 2,
        (("cache", "default"), ("prefix", "vault"), ("result", "miss")): 2,
    }
    assert summary.json()["cache"] == {"hits": 2, "misses": 2, "hit_rate": 0.5}
    totals = monitored.totals()
    labels = {value for _, values in [*totals.counters, *totals.histograms] for value in values}
    assert "vault" in labels
    assert not [value for value in labels if secret in value or suffix in value]


# -- 4. async forms record like their sync forms ------------------------------------------


# One scenario, run once with the sync API and once with the async API.
SCENARIO: list[tuple[str, tuple[Any, ...]]] = [
    ("get", ("user:1",)),  # miss
    ("set", ("user:1", None)),
    ("get", ("user:1", "fallback")),  # hit: a stored None
    ("get_or_set", ("user:2", "built")),  # miss (then add and get, not counted)
    ("get_or_set", ("user:2", "unused")),  # hit
    ("get_many", (["user:1", "user:2", "user:3"],)),  # hit, hit, miss
]


def test_async_forms_record_what_their_sync_forms_record(monitored: Monitored) -> None:
    # The backend tests above also run every operation in both forms.
    sync_cache, async_cache = caches["default"], caches["second"]

    async def run_async() -> list[Any]:
        return [await getattr(async_cache, "a" + name)(*args) for name, args in SCENARIO]

    sync_results = [getattr(sync_cache, name)(*args) for name, args in SCENARIO]
    async_results = async_to_sync(run_async)()

    last_read = {"user:1": None, "user:2": "built"}
    assert sync_results == [None, None, None, "built", "built", last_read]
    assert async_results == sync_results
    window = monitored.window()
    operations = operation_counts(window)
    reads = read_counts(window)
    for alias in ("default", "second"):
        assert {key[1]: n for key, n in operations.items() if key[0] == alias} == {
            "get": 2,
            "set": 1,
            "get_or_set": 2,
            "get_many": 1,
        }
        assert {key[1:]: n for key, n in reads.items() if key[0] == alias} == {
            ("user", "miss"): 3,
            ("user", "hit"): 4,
        }


# -- 5. reads per route --------------------------------------------------------------------


@pytest.mark.django_db
def test_reads_of_a_request_are_counted_under_its_route(
    client: Client, monitored: Monitored
) -> None:
    call_command("seed_shop", stdout=io.StringIO())
    product = Product.objects.order_by("pk").first()
    assert product is not None
    url = f"/products/{product.pk}/cached/"

    assert client.get(url).json()["cache"] == "miss"
    assert client.get(url).json()["cache"] == "hit"
    cache.get(f"product:{product.pk}")  # outside any request: no route

    window = monitored.window()
    assert route_read_counts(window) == {
        ("/products/<int:pk>/cached/", "miss"): 1,
        ("/products/<int:pk>/cached/", "hit"): 1,
    }
    assert read_counts(window) == {
        ("default", "product", "miss"): 1,
        ("default", "product", "hit"): 2,
    }


@pytest.mark.django_db
def test_multi_key_reads_of_a_request_are_counted_under_its_route(
    client: Client, monitored: Monitored
) -> None:
    # The profile view reads user:<id> with get_or_set and user:<id>:recent with get_many.
    call_command("seed_shop", stdout=io.StringIO())

    assert client.get("/users/7/profile/").status_code == 200
    assert client.get("/users/7/profile/").status_code == 200

    window = monitored.window()
    assert route_read_counts(window) == {
        ("/users/<int:user_id>/profile/", "miss"): 2,
        ("/users/<int:user_id>/profile/", "hit"): 2,
    }
    assert operation_counts(window) == {
        ("default", "get_or_set"): 2,
        ("default", "get_many"): 2,
        ("default", "set_many"): 1,
    }
    assert read_counts(window) == {
        ("default", "user", "miss"): 2,
        ("default", "user", "hit"): 2,
    }


# -- 6. excluded caches ---------------------------------------------------------------------


def test_an_excluded_cache_is_not_recorded(monitored: Monitored) -> None:
    # CACHES is "changed" too (to the same value) so that Django creates the cache objects
    # anew, as at startup, under the new exclusions.
    with override_settings(
        MONITORING={**settings.MONITORING, "EXCLUDE_CACHES": ["second"]},
        CACHES=settings.CACHES,
    ):
        second = caches["second"]
        second.set("user:1", "Ada")
        assert second.get("user:1") == "Ada"
        assert second.get("user:2") is None
        assert async_to_sync(second.aget_many)(["user:1"]) == {"user:1": "Ada"}
        assert caches["default"].get("user:1") is None

        window = monitored.window()
        assert operation_counts(window) == {("default", "get"): 1}
        assert read_counts(window) == {("default", "user", "miss"): 1}


# -- 7. muting ----------------------------------------------------------------------------


def test_nothing_is_recorded_while_muted(monitored: Monitored) -> None:
    with muted():
        cache.set("user:1", 1)
        cache.get("user:1")
        cache.get("user:absent")
        cache.get_many(["user:1", "user:absent"])
        cache.get_or_set("user:2", 2)
        cache.incr("user:1")
        cache.has_key("user:1")
        cache.delete("user:2")
        caches["second"].get("user:1")
        async_to_sync(cache.aget)("user:1")
        async_to_sync(cache.aget_or_set)("user:3", 3)

    assert_recorded(monitored, {})

    # Recording resumes after the block.
    assert cache.get("user:1") == 2
    assert_recorded(monitored, {"get": 1}, {("user", "hit"): 1})


# -- get_or_set defaults and keyword arguments ----------------------------------------------


def test_a_get_or_set_default_is_the_sites_time_and_its_operations_count(
    monitored: Monitored,
) -> None:
    def compute() -> str:
        cache.get("inner:1")  # the site's own read, made while computing the default
        time.sleep(0.05)
        return "computed"

    assert cache.get_or_set("outer:1", compute) == "computed"
    assert cache.get_or_set("outer:2", default=compute) == "computed"
    window = monitored.window()
    assert operation_counts(window) == {("default", "get_or_set"): 2, ("default", "get"): 2}
    assert read_counts(window) == {
        ("default", "outer", "miss"): 2,
        ("default", "inner", "miss"): 2,
    }
    get_or_set = window.histogram(m.CACHE_OPERATION_DURATION, operation="get_or_set")
    assert get_or_set is not None and get_or_set.sum < 0.05  # two 50 ms sleeps excluded


def test_async_get_many_with_keys_as_a_keyword_generator(monitored: Monitored) -> None:
    cache.set("gen:1", 1)

    async def read() -> dict[str, Any]:
        return await cache.aget_many(keys=(key for key in ("gen:1", "gen:2")))

    assert async_to_sync(read)() == {"gen:1": 1}
    assert read_counts(monitored.window()) == {
        ("default", "gen", "hit"): 1,
        ("default", "gen", "miss"): 1,
    }
