"""The aggregator: recorded events -> time buckets of counters and histograms.

Runs in the flusher thread (``Recorder.drain``), never inside a request. Each record is a
plain tuple made on the hot path; here it is fingerprinted, its labels bounded, and it is
counted into the bucket of its time: one tight loop over a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from django.utils.module_loading import import_string

from . import metrics as m
from .aggregate import Bucket, Histogram, SlowQuery
from .sql import fingerprint_sql

# Record kinds: a finished request (with its events), or one event outside any request.
REQUEST, OUTSIDE = "request", "outside"
# Event kinds.
QUERY, DB_ERROR, CONNECTION_ERROR = "query", "db_error", "connection_error"
CACHE_GET, CACHE_OPERATION, CACHE_READ = "cache_get", "cache_operation", "cache_read"
COUNT = "count"  # monitoring's own counters (store failures), not the site's

Event = tuple[Any, ...]

HTTP_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT")
)


def default_key_prefix(key: str) -> str:
    """Return the text before the first ``:`` of a cache key, or ``<none>``."""
    prefix, sep, _ = key.partition(":")
    return prefix if sep else "<none>"


class LabelLimit:
    """Admit at most ``limit`` distinct values for one label; fold the rest into ``other``."""

    __slots__ = ("label", "limit", "overflow", "seen")

    def __init__(self, label: str, limit: int) -> None:
        self.label = label
        self.limit = limit
        self.seen: set[str] = set()
        self.overflow = 0

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        self.overflow += 1
        return m.OTHER


class Tally:
    """What one request did, summed while its events are aggregated."""

    __slots__ = ("hits", "misses", "statements")

    def __init__(self) -> None:
        self.statements: dict[str, int] = {}
        self.hits = 0
        self.misses = 0


class Where(NamedTuple):
    """Where an event is counted: its bucket, route, request tally (None outside) and time."""

    bucket: Bucket
    route: str
    tally: Tally | None
    now: float


class Aggregator:
    """Counts records into buckets until :meth:`take` hands the buckets over."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.bucket_seconds = int(config["BUCKET_SECONDS"])
        accuracy = float(config["SKETCH_RELATIVE_ACCURACY"])
        self.slow_query_seconds = float(config["SLOW_QUERY_MS"]) / 1000.0
        self.n_plus_one_threshold = int(config["N_PLUS_ONE_THRESHOLD"])
        self.max_slow_queries = int(config["MAX_SLOW_QUERIES"])
        self.bounds = {
            metric.name: tuple(float(b) for b in config[metric.buckets])
            for metric in m.ALL
            if metric.buckets
        }
        self.accuracies = {metric.name: accuracy if metric.sketch else None for metric in m.ALL}
        prefix_path = config["CACHE_KEY_PREFIX_FUNCTION"]
        self.key_prefix: Callable[[str], str] = (
            import_string(prefix_path) if prefix_path else default_key_prefix
        )
        self.routes = LabelLimit("route", config["MAX_ROUTES"])
        self.fingerprints = LabelLimit("fingerprint", config["MAX_FINGERPRINTS"])
        self.prefixes = LabelLimit("prefix", config["MAX_CACHE_PREFIXES"])
        self.exceptions = LabelLimit("exception", config["MAX_EXCEPTION_TYPES"])
        self._buckets: dict[int, Bucket] = {}
        self._reported: dict[str, int] = {}
        self._handlers: dict[str, Callable[..., None]] = {
            QUERY: self._query,
            DB_ERROR: self._db_error,
            CONNECTION_ERROR: self._connection_error,
            CACHE_GET: self._cache_get,
            CACHE_OPERATION: self._cache_operation,
            CACHE_READ: self._cache_read,
            COUNT: self._count,
        }

    # -- primitives -----------------------------------------------------------------------

    def _bucket(self, now: float) -> Bucket:
        start = int(now) - int(now) % self.bucket_seconds
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = Bucket(
                start, self.bucket_seconds, max_slow_queries=self.max_slow_queries
            )
        return bucket

    def _observe(self, bucket: Bucket, name: str, labels: tuple[str, ...], value: float) -> None:
        key = (name, labels)
        hist = bucket.histograms.get(key)
        if hist is None:
            hist = bucket.histograms[key] = Histogram(self.bounds[name], self.accuracies[name])
        hist.observe(value)

    @staticmethod
    def _inc(bucket: Bucket, name: str, labels: tuple[str, ...], amount: float = 1) -> None:
        key = (name, labels)
        bucket.counters[key] = bucket.counters.get(key, 0) + amount

    # -- records --------------------------------------------------------------------------

    def add(self, record: tuple[Any, ...]) -> None:
        """Count one record made by the recorder."""
        if record[0] == REQUEST:
            self._request(*record[1:])
        else:
            _, now, event = record
            at = Where(self._bucket(now), m.NO_REQUEST_ROUTE, None, now)
            self._handlers[event[0]](at, *event[1:])

    def _request(
        self, now: float, method: str, route: str, status: int, duration: float, state: Any
    ) -> None:
        bucket = self._bucket(now)
        route = self.routes(route)
        method = method if method in HTTP_METHODS else m.OTHER
        self._inc(bucket, m.REQUESTS.name, (method, route, str(status)))
        self._observe(bucket, m.REQUEST_DURATION.name, (method, route), duration)
        self._observe(bucket, m.QUERIES_PER_REQUEST.name, (route,), state.queries)
        if state.exception is not None:
            self._inc(bucket, m.EXCEPTIONS.name, (route, self.exceptions(state.exception)))
        tally = Tally()
        at = Where(bucket, route, tally, now)
        handlers = self._handlers
        for event in state.events:
            handlers[event[0]](at, *event[1:])
        self._request_tally(bucket, route, tally)

    def _request_tally(self, bucket: Bucket, route: str, tally: Tally) -> None:
        if tally.hits:
            self._inc(bucket, m.CACHE_ROUTE_GETS.name, (route, "hit"), tally.hits)
        if tally.misses:
            self._inc(bucket, m.CACHE_ROUTE_GETS.name, (route, "miss"), tally.misses)
        for statement, count in tally.statements.items():
            self._inc(bucket, m.FINGERPRINT_ROUTES.name, (statement, route), count)
            # Folded statements are many different ones; they cannot be an N+1.
            if count >= self.n_plus_one_threshold and statement != m.OTHER:
                self._inc(bucket, m.N_PLUS_ONE.name, (route, statement))
                key = (m.N_PLUS_ONE_MAX.name, (route, statement))
                if count > bucket.maxima.get(key, 0):
                    bucket.maxima[key] = count

    # -- events: handler(where, *event fields) --------------------------------------------

    def _query(self, at: Where, alias: str, vendor: str, sql: str, duration: float) -> None:
        fingerprint = fingerprint_sql(sql, vendor)
        statement = self.fingerprints(fingerprint.id)
        bucket = at.bucket
        labels = (alias, fingerprint.operation, statement)
        self._observe(bucket, m.FINGERPRINT_DURATION.name, labels, duration)
        if statement not in bucket.statements:
            bucket.statements[statement] = fingerprint.sql if statement != m.OTHER else ""
        if at.tally is not None:
            statements = at.tally.statements
            statements[statement] = statements.get(statement, 0) + 1
        if duration >= self.slow_query_seconds:
            self._inc(bucket, m.SLOW_QUERIES.name, (alias, at.route))
            bucket.add_slow_query(SlowQuery(duration, at.now, statement, alias, at.route))

    def _db_error(self, at: Where, alias: str, error: str) -> None:
        self._inc(at.bucket, m.DB_ERRORS.name, (alias, self.exceptions(error)))

    def _connection_error(self, at: Where, alias: str, error: str, reason: str) -> None:
        self._inc(at.bucket, m.DB_ERRORS.name, (alias, self.exceptions(error)))
        self._inc(at.bucket, m.DB_CONNECTION_ERRORS.name, (alias, reason))

    def _cache_get(self, at: Where, cache: str, key: str, hit: bool, duration: float) -> None:
        self._observe(at.bucket, m.CACHE_OPERATION_DURATION.name, (cache, "get"), duration)
        self._cache_read(at, cache, key, hit, 1)

    def _cache_operation(self, at: Where, cache: str, operation: str, duration: float) -> None:
        self._observe(at.bucket, m.CACHE_OPERATION_DURATION.name, (cache, operation), duration)

    def _cache_read(self, at: Where, cache: str, key: str, hit: bool, count: int) -> None:
        prefix = self.prefixes(self.key_prefix(key))
        self._inc(at.bucket, m.CACHE_GETS.name, (cache, prefix, "hit" if hit else "miss"), count)
        if at.tally is not None:
            if hit:
                at.tally.hits += count
            else:
                at.tally.misses += count

    def _count(self, at: Where, name: str, labels: tuple[str, ...], amount: float) -> None:
        self._inc(at.bucket, name, labels, amount)

    # -- handing over ---------------------------------------------------------------------

    def take(self, now: float, dropped: int = 0) -> list[Bucket]:
        """Hand over every bucket counted so far (oldest first), leaving none."""
        self._count_losses(now, dropped)
        buckets = sorted(
            (b for b in self._buckets.values() if not b.is_empty()), key=lambda b: b.start
        )
        self._buckets = {}
        for bucket in buckets:
            _derive_query_durations(bucket)
        return buckets

    def _count_losses(self, now: float, dropped: int) -> None:
        losses = [
            (limit.label, limit.overflow)
            for limit in (self.routes, self.fingerprints, self.prefixes, self.exceptions)
        ]
        for label, total in losses:
            new = total - self._reported.get(label, 0)
            if new:
                self._inc(self._bucket(now), m.LABEL_OVERFLOW.name, (label,), new)
                self._reported[label] = total
        new_drops = dropped - self._reported.get("dropped", 0)
        if new_drops:
            self._inc(self._bucket(now), m.DROPPED_RECORDS.name, (), new_drops)
            self._reported["dropped"] = dropped


def _derive_query_durations(bucket: Bucket) -> None:
    """Sum the fingerprint histograms into ``query_duration`` by (alias, operation)."""
    histograms = bucket.histograms
    for (name, labels), hist in list(histograms.items()):
        if name != m.FINGERPRINT_DURATION.name:
            continue
        key = (m.QUERY_DURATION.name, labels[:2])  # (alias, operation)
        target = histograms.get(key)
        if target is None:
            histograms[key] = hist.copy(keep_sketch=False)
        else:
            target.merge(hist)
