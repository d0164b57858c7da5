"""Flush, window-read and scrape costs of each metric store: memory, SQLite, PostgreSQL, Redis.

Run from the repository root (PostgreSQL and Redis on 127.0.0.1; a store whose server
cannot be reached is skipped with a one-line message)::

    python benchmarks/stores.py [--intervals 60] [--workers 200] [--reads 10]
        [--scrapes 50] [--stores memory,sqlite,postgresql,redis] [--quick]

The traffic
    One worker serving 20 requests/s over 50 routes (URL patterns, a few far more popular
    than the rest): every request reads the session and the user (two statements shared by
    all routes), then runs its route's own statements (a listing and a count, a look-up by
    key, an update and an insert for a POST; a few routes repeat a look-up 6 times: an
    N+1), and makes two cache gets (85 % hits) under two of ten key prefixes. Some 404s,
    400s and 500s. Durations are log-normal around each route's and statement's median.
    87 statement fingerprints in all. Everything is recorded through a real
    ``Recorder``, with a ``RequestState`` per request, as the middleware does.

What it measures
    1. Flush cost per worker per interval: ``--intervals`` flushes in a row, each after
       10 s of the traffic above (200 requests), on a fake clock advancing 10 s per flush
       (the flusher runs 3 s past a bucket boundary, so a flush usually carries two
       partial 10 s buckets). ``recorder.drain()`` (aggregation) and ``store.write()`` are
       timed separately, with the wall clock and with the CPU time of this process; the
       wall clock also covers the database or Redis server's work and the round trips.
       The store already holds 24 h of traffic (below), so every write merges into tier
       buckets that exist: the steady state. Each store has its own recorder and clock and
       receives the same traffic.
    2. Window reads after 24 h: the store is first filled with 24 h of the traffic, then
       the flushes of (1) follow, then ``store.read_window()`` is timed for 24 h, 1 h and
       5 min windows, alone, plus the percentile questions of a dashboard (p50, p95, p99 of
       the request duration of every route: ``window.by(m.REQUEST_DURATION, "route")`` and
       ``quantiles``), and plus the JSON summary of the ``/metrics`` endpoint
       (``monitoring.summary.summarise``), ``--reads`` times each. Each warm read follows a
       cold one, timed too, for which the database and Redis stores first forget the sum
       of settled buckets they keep in memory, so that every bucket is fetched, parsed and
       merged. Goal: the 24 h read with its percentiles under 100 ms, and the cold read
       too (median, wall clock).
    3. Scrape time after worker restarts (stores shared between processes only): the time
       of one scrape, ``render(store.read_totals(), live_families())``, first with no
       worker process having lived (this host's totals already hold an hour of the
       traffic, written by this process, so every series the workers produce exists),
       then after ``--workers`` worker processes, forked one after another, each recorded
       10 s of that traffic through ``monitoring.runtime`` (its recorder, its store from
       ``MONITORING_STORE_URL``, its flush) and exited. Median of ``--scrapes`` scrapes
       each, their ratio, the size of the exposition, the number of totals entries (rows
       or keys) in the store, and the mean life of a worker (fork to exit, its flush
       included). A twin host, given the same traffic and no worker, is scraped in turns
       with the host after the workers: after/twin compares the two states at the same
       moment. Goal: the same after as before. The memory store lives in one process and
       has no row here.

How
    Machines are noisy, so the stores take turns: every flush interval goes to each store
    in an order that rotates from interval to interval, and so do the reads, so a slow
    moment of the machine falls on all of them alike. The last lines print the CPU time
    of a fixed workload at each stage of the run: where it is higher, the machine was
    slower.

    Setting up 24 h of traffic through the recorder would take as long as the day, so the
    traffic of one hour is recorded (360 intervals of 10 s, each drained into one 10 s
    bucket; ``--quick``: 60 intervals, repeated) and merged into templates of 60 s, 600 s
    and 3600 s. The day is then written as the store would have received it: each time
    slice as a template re-timed to it, in the widest template whose finer tiers no longer
    keep that slice (hours older than 6 h as 1 h buckets, then 10 min, 1 min and, for the
    last 15 min, 10 s buckets), up to 60 slices per write. Tiers merge exactly, so the
    stored state is the one 24 h of flushes produce: every tier filled, each hour bucket
    holding a whole hour of traffic. Before the reads, the number of buckets in every tier
    and the requests of each window are checked against what was written; the restarts
    check the totals grew by the requests the workers recorded. A failed check ends the
    run with exit status 1. A garbage collection runs before each timed flush, read and
    scrape; what the set-up made (the templates, the filled memory store) is frozen out of
    the collector's reach first (``gc.freeze``).

    The SQLite store is a migrated file in a temporary directory; the PostgreSQL store a
    database of its own (``monitoring_bench_<pid>``), dropped at the end; the Redis store
    database 13 under a prefix of its own, whose keys are deleted at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import logging
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from time import perf_counter, process_time
from types import SimpleNamespace
from typing import Any, NamedTuple

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from monitoring import config  # noqa: E402
from monitoring.dashboard import dashboard  # noqa: E402
from monitoring.exposition import render  # noqa: E402
from monitoring.recording import metrics as m  # noqa: E402
from monitoring.recording.aggregate import Bucket, Histogram, merge_buckets  # noqa: E402
from monitoring.recording.context import RequestState  # noqa: E402
from monitoring.recording.recorder import Recorder  # noqa: E402
from monitoring.stores import (  # noqa: E402
    DatabaseStore,
    MemoryStore,
    RedisStore,
    codec,
    store_from_url,
)
from monitoring.stores.base import DEFAULT_TIERS, BaseStore, SharedStore  # noqa: E402
from monitoring.summary import summarise  # noqa: E402
from monitoring.system import live_families  # noqa: E402
from monitoring.window import Window  # noqa: E402

STORES = ("memory", "sqlite", "postgresql", "redis")
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_URL = "redis://127.0.0.1:6379/13"

ROUTES = 50
RATE = 20  # requests per second of one worker
INTERVAL = 10  # seconds between two flushes of a worker
PHASE = 3  # seconds past a bucket boundary at which the flusher runs
HOUR, DAY = 3600, 24 * 3600
EPOCH = 1_700_002_800  # a whole hour; the measured flushes start half an hour into it
SEED = 20_241_127
GOAL_READ_MS = 100.0
GOAL_DASHBOARD_MS = 200.0
WINDOWS = ((DAY, "24 h"), (HOUR, "1 h"), (300, "5 min"))
FILL_BATCH = 60  # time slices per write while filling the day
FLUSH_TRAFFIC = 10_000  # traffic indices of the measured flushes start here (templates: 0)

PREFIXES = (
    "product",
    "category",
    "cart",
    "price",
    "stock",
    "user",
    "menu",
    "banner",
    "search",
    "page",
)
SESSION_SQL = (
    'SELECT "django_session"."session_key", "django_session"."session_data", '
    '"django_session"."expire_date" FROM "django_session" WHERE '
    '("django_session"."expire_date" > %s AND "django_session"."session_key" = %s) LIMIT 21'
)
USER_SQL = (
    'SELECT "auth_user"."id", "auth_user"."password", "auth_user"."last_login", '
    '"auth_user"."is_superuser", "auth_user"."username", "auth_user"."email" '
    'FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21'
)


# -- the traffic ----------------------------------------------------------------------------


class Statement(NamedTuple):
    sql: str
    median: float  # seconds


@dataclass(frozen=True)
class Route:
    """One URL pattern and what a request of it does."""

    request: Any  # what ``route_of`` reads: ``request.resolver_match.route``
    method: str
    median: float  # seconds
    statements: tuple[Statement, ...]  # each run once per request
    repeated: Statement | None  # run N_PLUS_ONE times per request: an N+1
    prefixes: tuple[str, str]


class Request(NamedTuple):
    offset: float  # seconds into its interval
    route: Route
    status: int
    duration: float
    queries: list[tuple[str, float]]
    gets: list[tuple[str, bool, float]]


N_PLUS_ONE = 6
SHARED = (Statement(SESSION_SQL, 0.0006), Statement(USER_SQL, 0.0004))


def _route_statements(i: int) -> tuple[str, str, tuple[Statement, ...], Statement | None]:
    """Pattern, method, own statements and repeated statement of route number ``i``."""
    table = f'"shop_model{i}"'
    cols = f'{table}."id", {table}."name", {table}."price", {table}."updated"'
    median = 0.0004 * 1.04**i
    detail = Statement(f'SELECT {cols} FROM {table} WHERE {table}."id" = %s LIMIT 21', median)
    kind = i % 5
    if kind == 0:
        listing = f'SELECT {cols} FROM {table} ORDER BY {table}."updated" DESC LIMIT 20'
        count = f'SELECT COUNT(*) AS "__count" FROM {table}'
        own: tuple[Statement, ...] = (Statement(listing, 3 * median), Statement(count, 2 * median))
        return f"/shop/model{i}/", "GET", own, None
    if kind == 3:
        update = f'UPDATE {table} SET "name" = %s, "price" = %s WHERE {table}."id" = %s'
        insert = (
            f'INSERT INTO "shop_log{i}" ("model_id", "created") VALUES (%s, %s) '
            f'RETURNING "shop_log{i}"."id"'
        )
        own = (detail, Statement(update, 2 * median), Statement(insert, 2 * median))
        return f"/shop/model{i}/<int:pk>/edit/", "POST", own, None
    repeated = None
    if i % 10 == 2:
        related = f'"shop_part{i}"'
        repeated = Statement(
            f'SELECT {related}."id", {related}."label" FROM {related} '
            f'WHERE {related}."model_id" = %s LIMIT 21',
            median / 2,
        )
    return f"/shop/model{i}/<int:pk>/", "GET", (detail,), repeated


def make_routes() -> list[Route]:
    """The site's 50 routes, the fastest and most popular first."""
    routes = []
    for i in range(ROUTES):
        pattern, method, own, repeated = _route_statements(i)
        request = SimpleNamespace(resolver_match=SimpleNamespace(route=pattern))
        prefixes = (PREFIXES[i % 10], PREFIXES[(3 * i + 1) % 10])
        routes.append(Route(request, method, 0.015 * 1.05**i, (*SHARED, *own), repeated, prefixes))
    return routes


def _status(rng: Random, method: str) -> int:
    draw = rng.random()
    if method == "POST":
        return 302 if draw < 0.95 else 400 if draw < 0.99 else 500
    return 200 if draw < 0.97 else 404 if draw < 0.995 else 500


def _query_duration(rng: Random, median: float) -> float:
    duration = median * rng.lognormvariate(0, 0.8)
    return duration * 40 if rng.random() < 0.0005 else duration  # a rare slow query


def traffic(routes: Sequence[Route], index: int) -> list[Request]:
    """The requests of one worker's interval number ``index`` (the same for every run)."""
    rng = Random(SEED * 1_000_003 + index)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(routes))]
    requests = []
    for route in rng.choices(routes, weights, k=RATE * INTERVAL):
        queries = [(s.sql, _query_duration(rng, s.median)) for s in route.statements]
        if route.repeated is not None:
            sql, median = route.repeated
            queries += [(sql, _query_duration(rng, median)) for _ in range(N_PLUS_ONE)]
        gets = [
            (f"{prefix}:{rng.randrange(1000)}", rng.random() < 0.85, rng.lognormvariate(-8.5, 0.5))
            for prefix in route.prefixes
        ]
        duration = route.median * rng.lognormvariate(0, 0.5) + sum(d for _, d in queries)
        status = _status(rng, route.method)
        requests.append(Request(rng.random() * INTERVAL, route, status, duration, queries, gets))
    requests.sort(key=lambda r: r.offset)
    return requests


class Clock:
    """A settable clock shared by a recorder and a store."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def replay(
    recorder: Recorder, requests: Sequence[Request], start: float, clock: Clock | None
) -> None:
    """Record ``requests`` as the middleware does: queries and gets, then the request."""
    for request in requests:
        if clock is not None:
            clock.now = start + request.offset
        state = RequestState(request.route.request)
        for sql, duration in request.queries:
            recorder.record_query("default", "postgresql", sql, duration, state)
        for key, hit, duration in request.gets:
            recorder.record_cache_get("default", key, hit, duration, state)
        recorder.record_request(state, request.route.method, request.status, request.duration)


def requests_in(buckets: Sequence[Bucket]) -> float:
    """The requests counted in ``buckets``."""
    return sum(
        value
        for b in buckets
        for (name, _), value in b.counters.items()
        if name == m.REQUESTS.name
    )


# -- the day of traffic ----------------------------------------------------------------------


@dataclass
class Templates:
    """Buckets of one hour's traffic at each tier width, by position in the hour."""

    by_width: dict[int, list[Bucket]]

    def at(self, start: int, width: int) -> Bucket:
        """The template of ``width`` for the slice starting at ``start``, re-timed to it.

        A shallow copy: writes only read the buckets they are given.
        """
        items = self.by_width[width]
        template = items[(start % HOUR) // width % len(items)]
        return dataclasses.replace(template, start=start, seconds=width)


def build_templates(routes: Sequence[Route], intervals: int, widths: Sequence[int]) -> Templates:
    """Record ``intervals`` x 10 s of traffic, one bucket each, and merge them per width."""
    clock = Clock(0)
    recorder = Recorder(config.get_config(), clock=clock)
    finest: list[Bucket] = []
    for index in range(intervals):
        start = EPOCH + index * INTERVAL
        replay(recorder, traffic(routes, index), start, clock)
        clock.now = start + INTERVAL
        (bucket,) = recorder.drain()
        finest.append(bucket)
    by_width = {widths[0]: finest}
    for finer, width in itertools.pairwise(widths):
        parts, ratio = by_width[finer], width // finer
        count = max(1, math.ceil(len(parts) / ratio))
        by_width[width] = [
            merge_buckets((parts[(j * ratio + k) % len(parts)] for k in range(ratio)), 0, width)
            for j in range(count)
        ]
    return Templates(by_width)


def slices(store: BaseStore, begin: int, end: int, now: int) -> Iterator[tuple[int, int]]:
    """(start, width) covering ``[begin, end)``: each slice as wide as the tiers allow.

    A slice may be wider than the finest tier only when no finer tier keeps any part of it
    at ``now`` any more (the writes of its narrower slices would have been purged there).
    """
    widths = sorted((tier.seconds for tier in store.tiers), reverse=True)
    start = begin
    while start < end:
        for width in widths:
            finer_gone = all(
                start + width <= now - store.keep_seconds(tier)
                for tier in store.tiers
                if tier.seconds < width
            )
            if start % width == 0 and start + width <= end and finer_gone:
                yield start, width
                start += width
                break
        else:
            raise ValueError(f"{begin} is not aligned to the finest tier")


@dataclass
class Ledger:
    """Every bucket written, as (start, width, requests): what each window must hold."""

    entries: list[tuple[int, int, float]] = field(default_factory=list)

    def add(self, buckets: Sequence[Bucket]) -> None:
        self.entries += [(b.start, b.seconds, requests_in([b])) for b in buckets]

    def expected(self, store: BaseStore, seconds: int, now: float) -> float:
        """Requests a ``seconds`` window read at ``now`` must find."""
        width = store.tier_for(seconds).seconds
        return sum(
            n
            for start, w, n in self.entries
            if w <= width and now - seconds - width < start - start % width <= now
        )


def fill_day(store: BaseStore, clock: Clock, templates: Templates, begin: int, end: int) -> Ledger:
    """Write the traffic of ``[begin, end)`` as 24 h of flushes leave it; return the ledger."""
    clock.now = end
    ledger = Ledger()
    batch: list[Bucket] = []
    for start, width in slices(store, begin, end, end):
        if batch and (batch[0].seconds != width or len(batch) == FILL_BATCH):
            store.write(batch)
            ledger.add(batch)
            batch = []
        batch.append(templates.at(start, width))
    if batch:
        store.write(batch)
        ledger.add(batch)
    return ledger


# -- the stores -----------------------------------------------------------------------------


@dataclass
class StoreSetup:
    """How to build one store, and how worker processes reach it."""

    name: str
    build: Callable[[Clock, str], BaseStore]  # (clock, host)
    url: str | None = None  # MONITORING_STORE_URL of the workers; None: one process only
    totals_entries: Callable[[], int] | None = None  # totals rows or keys in the store


def configure_django(sqlite_path: str, pg_name: str) -> None:
    for name in config.ENVIRONMENT:
        os.environ.pop(name, None)  # the run's configuration is the one below
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only-not-secret",
        USE_TZ=True,
        INSTALLED_APPS=["monitoring"],
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path},
            "pg": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": pg_name,
                "USER": PG_USER,
                "HOST": PG_HOST,
                "PORT": str(PG_PORT),
                "OPTIONS": {"connect_timeout": 2},
            },
        },
        # The stores' own statements are not the site's: nothing here is recorded.
        MONITORING={"STORE_URL": "memory://", "EXCLUDE_DATABASES": ["default", "pg"]},
    )
    django.setup()


def _database_setup(name: str, alias: str) -> StoreSetup:
    from django.core.management import call_command

    from monitoring.models import HostTotals

    call_command("migrate", "monitoring", database=alias, verbosity=0, interactive=False)
    return StoreSetup(
        name,
        lambda clock, host: DatabaseStore(alias, retention_hours=24, clock=clock, host=host),
        url=f"database://{alias}",
        totals_entries=lambda: HostTotals.objects.using(alias).count(),
    )


def _postgresql(stack: ExitStack, name: str) -> StoreSetup | None:
    import psycopg
    from django.db import connections

    try:
        admin = psycopg.connect(
            host=PG_HOST,
            port=PG_PORT,
            user=PG_USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
        )
    except psycopg.Error as exc:
        where = f"{PG_HOST}:{PG_PORT}"
        print(f"postgresql: skipped, no server at {where} ({type(exc).__name__})", flush=True)
        return None
    stack.callback(admin.close)
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        connections["pg"].close()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    stack.callback(drop)
    return _database_setup("postgresql", "pg")


def _redis(stack: ExitStack) -> StoreSetup | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"redis: skipped, no server at {REDIS_URL} ({type(exc).__name__})", flush=True)
        return None
    prefix = f"monitoring-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}:"

    def delete_keys() -> None:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for begin in range(0, len(keys), 1000):
            client.delete(*keys[begin : begin + 1000])
        client.close()

    stack.callback(delete_keys)
    workers = prefix + "workers:"  # the worker processes' keys, apart from the others
    return StoreSetup(
        "redis",
        lambda clock, host: RedisStore(client, prefix, retention_hours=24, clock=clock, host=host),
        url=f"{REDIS_URL}?prefix={workers}",
        totals_entries=lambda: len(list(client.scan_iter(match=workers + "totals:*"))),
    )


def open_stores(names: Sequence[str], stack: ExitStack, pg_name: str) -> list[StoreSetup]:
    """The stores asked for whose server answers (a line for each one skipped)."""
    setups: list[StoreSetup | None] = []
    for name in names:
        if name == "memory":
            setups.append(
                StoreSetup(
                    "memory", lambda clock, host: MemoryStore(retention_hours=24, clock=clock)
                )
            )
        elif name == "sqlite":
            setups.append(_database_setup("sqlite", "default"))
        elif name == "postgresql":
            setups.append(_postgresql(stack, pg_name))
        else:
            setups.append(_redis(stack))
    return [setup for setup in setups if setup is not None]


# -- measurements ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Samples:
    """Milliseconds, one value per repetition."""

    values: list[float] = field(default_factory=list)

    def add(self, seconds: float) -> None:
        self.values.append(seconds * 1000)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        return percentile(self.values, 0.95)


def rotated(items: Sequence[Subject], shift: int) -> list[Subject]:
    """``items`` starting at ``shift``: the store measured first changes every round."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


FLUSH_PARTS = ("drain wall", "drain CPU", "write wall", "write CPU", "flush wall", "flush CPU")


@dataclass
class ReadResult:
    label: str
    buckets: int
    cold: Samples = field(default_factory=Samples)
    read: Samples = field(default_factory=Samples)
    percentiles: Samples = field(default_factory=Samples)
    percentiles_cpu: Samples = field(default_factory=Samples)
    summary: Samples = field(default_factory=Samples)
    dashboard: Samples = field(default_factory=Samples)


@dataclass
class Stored:
    """What a store holds: the starts of the buckets of each tier, the largest document."""

    starts: dict[int, list[int]]
    largest_kb: float  # the largest bucket of the widest tier, as a ``codec`` document

    def describe(self) -> str:
        return ", ".join(f"{width} s x {len(starts)}" for width, starts in self.starts.items())

    def in_window(self, store: BaseStore, seconds: int, now: float) -> int:
        """How many stored buckets a ``seconds`` window read at ``now`` merges."""
        return sum(
            span.first <= start <= span.last
            for span in store.plan(now - seconds, now, now)
            for start in self.starts[span.seconds]
        )


@dataclass
class Subject:
    """One store under measurement: its clock, its worker's recorder, what it was given."""

    setup: StoreSetup
    store: BaseStore
    clock: Clock
    recorder: Recorder
    ledger: Ledger
    fill_seconds: float
    flushes: dict[str, Samples] = field(
        default_factory=lambda: {part: Samples() for part in FLUSH_PARTS}
    )
    buckets: int = 0
    reads: list[ReadResult] = field(default_factory=list)
    stored: Stored | None = None
    restarts: RestartResult | None = None

    @property
    def name(self) -> str:
        return self.setup.name


def prepare(setup: StoreSetup, templates: Templates, start: int, now: int) -> Subject:
    """Build the store and fill it with the 24 h before ``start`` (read at ``now``)."""
    clock = Clock(start)
    store = setup.build(clock, f"bench-{os.getpid()}")
    began = perf_counter()
    ledger = fill_day(store, clock, templates, (now - DAY) // HOUR * HOUR, start - PHASE)
    filled = perf_counter() - began
    print(f"{setup.name}: 24 h of traffic written in {filled:.1f} s", flush=True)
    recorder = Recorder(config.get_config(), clock=clock)
    return Subject(setup, store, clock, recorder, ledger, filled)


def flush_once(subject: Subject, requests: Sequence[Request], begin: int) -> None:
    """One worker's interval into ``subject``: recorded, then drained and written, timed."""
    replay(subject.recorder, requests, begin, subject.clock)
    subject.clock.now = begin + INTERVAL
    gc.collect()
    wall, cpu = perf_counter(), process_time()
    buckets = subject.recorder.drain()
    drained_wall, drained_cpu = perf_counter(), process_time()
    subject.store.write(buckets)
    end_wall, end_cpu = perf_counter(), process_time()
    spans = (
        drained_wall - wall,
        drained_cpu - cpu,
        end_wall - drained_wall,
        end_cpu - drained_cpu,
        end_wall - wall,
        end_cpu - cpu,
    )
    for part, seconds in zip(FLUSH_PARTS, spans, strict=True):
        subject.flushes[part].add(seconds)
    subject.ledger.add(buckets)
    subject.buckets += len(buckets)


def measure_flushes(
    subjects: Sequence[Subject], routes: Sequence[Route], start: int, intervals: int
) -> tuple[int, int, int]:
    """``intervals`` flushes of one worker into every store, the stores taking turns.

    Returns the requests, queries and cache gets recorded per store.
    """
    requests = queries = gets = 0
    for number in range(intervals):
        traffic_of_interval = traffic(routes, FLUSH_TRAFFIC + number)
        for subject in rotated(subjects, number):
            flush_once(subject, traffic_of_interval, start + number * INTERVAL)
        requests += len(traffic_of_interval)
        queries += sum(len(r.queries) for r in traffic_of_interval)
        gets += sum(len(r.gets) for r in traffic_of_interval)
    return requests, queries, gets


def route_percentiles(window: Window) -> int:
    """The dashboard's question: p50, p95 and p99 of every route's request duration."""
    answered = 0
    for hist in window.by(m.REQUEST_DURATION, "route").values():
        assert isinstance(hist, Histogram)
        answered += sum(v is not None for v in hist.quantiles(0.5, 0.95, 0.99))
    return answered


def forget_settled(store: BaseStore) -> None:
    """Empty a shared store's in-memory sum of settled buckets: the next read is cold."""
    if isinstance(store, SharedStore):
        with store._settled_lock:
            store._settled.clear()


def read_once(store: BaseStore, seconds: int, now: float, result: ReadResult) -> None:
    """One cold read of a ``seconds`` window, then a warm one: alone, + route percentiles,
    + the summary."""
    forget_settled(store)
    gc.collect()
    began = perf_counter()
    store.read_window(seconds, now=now)
    result.cold.add(perf_counter() - began)
    gc.collect()
    began, cpu = perf_counter(), process_time()
    window = store.read_window(seconds, now=now)
    read = perf_counter()
    if route_percentiles(window) != 3 * ROUTES:
        raise SystemExit(f"{result.label} window: not every route has its percentiles")
    answered, answered_cpu = perf_counter(), process_time()
    summarise(window)
    summarised = perf_counter()
    result.read.add(read - began)
    result.percentiles.add(answered - began)
    result.percentiles_cpu.add(answered_cpu - cpu)
    result.summary.add(read - began + summarised - answered)
    gc.collect()
    began = perf_counter()
    dashboard(store, seconds, [], now=now)
    result.dashboard.add(perf_counter() - began)


def measure_reads(subjects: Sequence[Subject], now: float, reads: int) -> None:
    """``reads`` reads of every window from every store, the stores taking turns."""
    for seconds, label in WINDOWS:
        results = {}
        for subject in subjects:
            assert subject.stored is not None
            buckets = subject.stored.in_window(subject.store, seconds, now)
            results[subject.name] = ReadResult(label, buckets)
            subject.reads.append(results[subject.name])
        for number in range(reads):
            for subject in rotated(subjects, number):
                read_once(subject.store, seconds, now, results[subject.name])


def check_state(store: BaseStore, ledger: Ledger, now: float) -> tuple[Stored, list[str]]:
    """What the store holds, and what is wrong with it: missing buckets, wrong windows."""
    starts: dict[int, list[int]] = {}
    problems = []
    largest = 0
    for tier in store.tiers:
        buckets = store.read_buckets(tier.seconds, now - store.keep_seconds(tier), now)
        starts[tier.seconds] = [b.start for b in buckets]
        if len(buckets) < store.keep_seconds(tier) // tier.seconds:
            problems.append(f"tier {tier.seconds} s holds only {len(buckets)} buckets")
        if tier == store.tiers[-1]:
            largest = max((len(codec.dumps(b)) for b in buckets), default=0)
    for seconds, label in WINDOWS:
        found = store.read_window(seconds, now=now).total(m.REQUESTS)
        expected = ledger.expected(store, seconds, now)
        if found != expected:
            problems.append(f"{label} window holds {found:.0f} requests, {expected:.0f} written")
    return Stored(starts, largest / 1000), problems


# -- worker restarts ------------------------------------------------------------------------


@dataclass
class Scrapes:
    """Scrape times of one store, the last body's size and what the totals hold."""

    samples: Samples = field(default_factory=Samples)
    size: int = 0
    requests: float = 0.0


@dataclass
class RestartResult:
    before: Scrapes
    after: Scrapes
    twin: Scrapes
    entries: tuple[int, int]  # totals entries in the store, before and after
    worker_ms: float


def scrape_once(store: BaseStore, scrapes: Scrapes) -> None:
    """One scrape: the store's totals plus the live gauges, rendered as Prometheus text."""
    gc.collect()
    began = perf_counter()
    body, _ = render(store.read_totals(), live_families())
    scrapes.samples.add(perf_counter() - began)
    scrapes.size = len(body)
    scrapes.requests = requests_in([store.read_totals()])


def scrape_alternately(stores: Sequence[BaseStore], count: int) -> list[Scrapes]:
    """``count`` scrapes of each of ``stores``, taking turns."""
    results = [Scrapes() for _ in stores]
    for number in range(count):
        order = list(zip(stores, results, strict=True))
        shift = number % len(order)
        for store, scrapes in order[shift:] + order[:shift]:
            scrape_once(store, scrapes)
    return results


class Warnings(logging.Handler):
    """Keeps the warnings logged (a failed flush logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _worker(url: str, host: str, index: int) -> None:
    """A worker process's life: configure, serve one interval of traffic, flush, exit."""
    from monitoring import runtime
    from monitoring.recording.safety import internal_error_counts

    warnings = Warnings()
    logging.getLogger("monitoring").addHandler(warnings)
    os.environ["MONITORING_STORE_URL"] = url
    os.environ["MONITORING_HOST"] = host
    config.reload()
    replay(runtime.get_recorder(), traffic(make_routes(), index), 0, None)
    runtime.flush()
    runtime.reset()
    if warnings.records or internal_error_counts():
        sys.exit(f"worker {index}: " + "; ".join(r.getMessage() for r in warnings.records))


def run_workers(setup: StoreSetup, host: str, workers: int, intervals: int) -> float:
    """Fork ``workers`` worker processes one after another; their mean life in ms."""
    from django.db import connections

    assert setup.url is not None
    connections.close_all()  # a forked child must not share this process's connections
    context = multiprocessing.get_context("fork")
    began = perf_counter()
    for number in range(workers):
        process = context.Process(target=_worker, args=(setup.url, host, number % intervals))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"{setup.name}: worker {number} exited with {process.exitcode}")
    return (perf_counter() - began) * 1000 / max(workers, 1)


def measure_restarts(
    setup: StoreSetup, templates: Templates, workers: int, scrapes: int
) -> RestartResult:
    """Scrapes before and after ``workers`` worker processes lived and flushed, one by one.

    Before, this host's totals already hold the template traffic (every series the workers
    produce: each replays one of its intervals), so only the number of workers differs. A
    twin host given the same traffic, and no worker, is scraped in turns with the host
    after the workers: the same content as before, at the same moment as after.
    """
    assert setup.url is not None and setup.totals_entries is not None
    pid = os.getpid()
    store = store_from_url(setup.url, 24, f"bench-workers-{pid}")
    twin = store_from_url(setup.url, 24, f"bench-twin-{pid}")
    recorded = templates.by_width[INTERVAL]
    store.write(recorded)
    twin.write(recorded)
    (before,) = scrape_alternately([store], scrapes)
    entries = setup.totals_entries()
    worker_ms = run_workers(setup, f"bench-workers-{pid}", workers, len(recorded))
    after, twin_scrapes = scrape_alternately([store, twin], scrapes)
    expected = sum(requests_in([recorded[n % len(recorded)]]) for n in range(workers))
    if after.requests - before.requests != expected:
        raise SystemExit(
            f"{setup.name}: the totals grew by {after.requests - before.requests:.0f} "
            f"requests, the workers recorded {expected:.0f}"
        )
    result = RestartResult(
        before, after, twin_scrapes, (entries, setup.totals_entries()), worker_ms
    )
    store.close()
    twin.close()
    return result


# -- report ---------------------------------------------------------------------------------


def flush_table(
    subjects: Sequence[Subject], intervals: int, recorded: tuple[int, int, int]
) -> None:
    requests, queries, gets = (n / intervals for n in recorded)
    print(
        f"\n1. Flush cost per worker per {INTERVAL} s interval: {ROUTES} routes, {RATE} req/s "
        f"({requests:.0f} requests, {queries:.0f} queries, {gets:.0f} cache gets per "
        f"interval); median and p95 over {intervals} flushes, ms"
    )
    print("drain = recorder.drain() (aggregation), write = store.write(buckets), flush = both;")
    print("wall clock (server work and round trips included) and CPU time of this process.\n")
    header = f"{'store':<12}{'buckets':>8}" + "".join(f"{part:>16}" for part in FLUSH_PARTS)
    print(header)
    print(f"{'':<12}{'/flush':>8}" + f"{'med':>9}{'p95':>7}" * len(FLUSH_PARTS))
    print("-" * len(header))
    for subject in subjects:
        cells = "".join(
            f"{subject.flushes[p].median:>9.2f}{subject.flushes[p].p95:>7.2f}" for p in FLUSH_PARTS
        )
        print(f"{subject.name:<12}{subject.buckets / intervals:>8.1f}{cells}")


def read_row(name: str, read: ReadResult) -> str:
    goal = ""
    if read.label == WINDOWS[0][1]:
        met = max(read.percentiles.median, read.cold.median) < GOAL_READ_MS
        met = met and read.dashboard.median < GOAL_DASHBOARD_MS
        goal = "met" if met else "NOT met"
    return (
        f"{name:<12}{read.label:>7}{read.buckets:>8}"
        f"{read.cold.median:>9.1f}{read.cold.p95:>7.1f}"
        f"{read.read.median:>9.1f}{read.read.p95:>7.1f}"
        f"{read.percentiles.median:>9.1f}{read.percentiles.p95:>7.1f}"
        f"{read.percentiles_cpu.median:>10.1f}"
        f"{read.summary.median:>9.1f}{read.summary.p95:>7.1f}"
        f"{read.dashboard.median:>9.1f}{read.dashboard.p95:>7.1f}  {goal}"
    )


def read_table(subjects: Sequence[Subject], reads: int) -> None:
    print(
        f"\n2. Window reads after 24 h of traffic ({ROUTES} routes), ms; median and p95 of "
        f"{reads} reads"
    )
    print("buckets = stored buckets the read merges (widest that fit, finer at the start);")
    print("cold = store.read_window() with nothing in memory (every bucket fetched, parsed and")
    print("merged); read = store.read_window() again (buckets that did not change since the")
    print("last read of that window are not parsed again); +pct = read + p50/p95/p99 of the")
    print("request duration of every route; +summary = read + the JSON summary of /metrics;")
    print("dashboard = the whole dashboard/ document (one read at the series' step, series,")
    print("summary, endpoint table, health score); wall clock, and the CPU time of this")
    print("process for +pct. Goal: the 24 h window's +pct median (wall) under")
    print(
        f"{GOAL_READ_MS:.0f} ms, and its cold read too; its dashboard under "
        f"{GOAL_DASHBOARD_MS:.0f} ms.\n"
    )
    header = (
        f"{'store':<12}{'window':>7}{'buckets':>8}"
        f"{'cold':>16}{'read':>16}{'+pct':>16}{'+pct CPU':>10}{'+summary':>16}"
        f"{'dashboard':>16}  goal"
    )
    print(header)
    print(f"{'':<27}" + f"{'med':>9}{'p95':>7}" * 3 + f"{'med':>10}" + f"{'med':>9}{'p95':>7}" * 2)
    print("-" * len(header))
    for subject in subjects:
        for read in subject.reads:
            print(read_row(subject.name, read))
    print()
    for subject in subjects:
        assert subject.stored is not None
        print(
            f"{subject.name}: tiers hold {subject.stored.describe()} buckets; largest 1 h "
            f"bucket {subject.stored.largest_kb:.0f} KB as JSON; 24 h written in "
            f"{subject.fill_seconds:.1f} s"
        )


def restart_table(subjects: Sequence[Subject], workers: int, scrapes: int) -> None:
    print(
        f"\n3. Prometheus scrape before and after {workers} worker processes lived and flushed "
        f"(median of {scrapes} scrapes, ms)"
    )
    print("before: no worker process has lived (this host's totals already hold the same")
    print("series); twin: a host holding what this one held before, scraped in turns with it")
    print("after the workers (same moment, same machine speed); entries: totals rows or keys")
    print("in the store (this host's and the twin's); worker ms: mean life of a worker, fork")
    print("to exit. Goal: ratio 1.0, same size.\n")
    header = (
        f"{'store':<12}{'before ms':>10}{'after ms':>10}{'ratio':>7}{'twin ms':>9}"
        f"{'after/twin':>11}{'bytes before':>14}{'bytes after':>13}{'entries':>9}"
        f"{'worker ms':>11}"
    )
    print(header)
    print("-" * len(header))
    for subject in subjects:
        restarts = subject.restarts
        if restarts is None:
            print(f"{subject.name:<12}  n/a: one process only, worker processes cannot share it")
            continue
        before, after, twin = restarts.before, restarts.after, restarts.twin
        print(
            f"{subject.name:<12}{before.samples.median:>10.2f}{after.samples.median:>10.2f}"
            f"{after.samples.median / before.samples.median:>7.2f}{twin.samples.median:>9.2f}"
            f"{after.samples.median / twin.samples.median:>11.2f}{before.size:>14}"
            f"{after.size:>13}{'{}->{}'.format(*restarts.entries):>9}"
            f"{restarts.worker_ms:>11.1f}"
        )


def versions(setups: Sequence[StoreSetup]) -> str:
    parts = [f"Python {platform.python_version()}", f"Django {django.get_version()}"]
    names = {s.name for s in setups}
    if "postgresql" in names:
        from django.db import connections

        with connections["pg"].cursor() as cursor:
            cursor.execute("SHOW server_version")
            parts.append(f"PostgreSQL {cursor.fetchone()[0].split()[0]}")
    if "sqlite" in names:
        import sqlite3

        parts.append(f"SQLite {sqlite3.sqlite_version}")
    if "redis" in names:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        parts.append(f"Redis {client.info('server')['redis_version']}")
        client.close()
    return ", ".join(parts) + f", {platform.machine()}, {os.cpu_count()} CPUs"


def reference_ms(document: str) -> float:
    """CPU time of a fixed piece of the product's work, ``codec.loads`` of one 1 h bucket.

    Median of 5, in ms: the same at every stage unless the machine's speed changed.
    """
    samples = Samples()
    for _ in range(5):
        began = process_time()
        codec.loads(document, 0, HOUR)
        samples.add(process_time() - began)
    return samples.median


def reference_line(references: Sequence[tuple[str, float]]) -> str:
    cells = ", ".join(f"{label} {ms:.1f}" for label, ms in references)
    return (
        "\nMachine speed: CPU ms of a fixed workload (codec.loads of one 1 h bucket, median of "
        f"5) at each stage: {cells}.\nFigures taken while it was higher ran on a slower machine."
    )


# -- command line ---------------------------------------------------------------------------

# Flushes, worker processes, reads per window, scrapes, and 10 s intervals of template traffic.
DEFAULTS = {"intervals": 60, "workers": 200, "reads": 10, "scrapes": 50, "templates": 360}
QUICK = {"intervals": 10, "workers": 10, "reads": 3, "scrapes": 5, "templates": 60}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--intervals", type=int, help="timed flushes per store (default 60)")
    parser.add_argument("--workers", type=int, help="worker processes per store (default 200)")
    parser.add_argument("--reads", type=int, help="reads per window and store (default 10)")
    parser.add_argument("--scrapes", type=int, help="scrapes before and after (default 50)")
    parser.add_argument(
        "--stores",
        default=",".join(STORES),
        help=f"comma-separated stores to measure (default {','.join(STORES)})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run: 10 flushes, 10 workers, 3 reads, 5 scrapes, 10 min of traffic "
        "repeated to fill the day (explicit flags still win)",
    )
    args = parser.parse_args(argv)
    for name, default in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    if min(args.intervals, args.reads, args.scrapes) < 1 or args.workers < 0:
        parser.error("--intervals, --reads and --scrapes must be at least 1, --workers at least 0")
    args.stores = [name.strip() for name in args.stores.split(",") if name.strip()]
    unknown = sorted(set(args.stores) - set(STORES))
    if unknown or not args.stores:
        parser.error(f"--stores: choose among {', '.join(STORES)} (got {unknown or 'none'})")
    return args


def measure(
    setups: Sequence[StoreSetup],
    routes: Sequence[Route],
    templates: Templates,
    args: argparse.Namespace,
) -> tuple[list[Subject], tuple[int, int, int], list[tuple[str, float]]]:
    """Fill every store, then flushes, checks and reads with the stores taking turns."""
    document = codec.dumps(templates.by_width[HOUR][0])
    references = [("start", reference_ms(document))]
    start = EPOCH + HOUR // 2 + PHASE  # the first measured flush interval
    now = start + args.intervals * INTERVAL  # the reads happen right after the last flush
    subjects = [prepare(setup, templates, start, now) for setup in setups]
    gc.collect()
    gc.freeze()  # what the set-up made stays; collections see only what comes next
    references.append(("filled", reference_ms(document)))
    recorded = measure_flushes(subjects, routes, start, args.intervals)
    references.append(("flushed", reference_ms(document)))
    for subject in subjects:
        subject.stored, problems = check_state(subject.store, subject.ledger, now)
        if problems:
            raise SystemExit(f"{subject.name}: " + "; ".join(problems))
    print("flushes done; every tier and window checked", flush=True)
    measure_reads(subjects, now, args.reads)
    references.append(("read", reference_ms(document)))
    for subject in subjects:
        subject.store.close()
    for subject in subjects:
        if subject.setup.url is not None:
            subject.restarts = measure_restarts(
                subject.setup, templates, args.workers, args.scrapes
            )
            print(f"{subject.name}: {args.workers} worker processes done", flush=True)
            references.append((f"{subject.name} workers", reference_ms(document)))
    return subjects, recorded, references


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="monitoring-bench-stores-")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        pg_name = f"monitoring_bench_{os.getpid()}"
        configure_django(str(Path(tmp) / "store.sqlite3"), pg_name)
        setups = open_stores(args.stores, stack, pg_name)
        print(versions(setups), flush=True)
        routes = make_routes()
        began = perf_counter()
        templates = build_templates(routes, args.templates, [t.seconds for t in DEFAULT_TIERS])
        print(
            f"traffic of {args.templates * INTERVAL // 60} min recorded in "
            f"{perf_counter() - began:.1f} s",
            flush=True,
        )
        subjects, recorded, references = measure(setups, routes, templates, args)
        flush_table(subjects, args.intervals, recorded)
        read_table(subjects, args.reads)
        restart_table(subjects, args.workers, args.scrapes)
        print(reference_line(references))
    return 0


if __name__ == "__main__":
    sys.exit(main())
