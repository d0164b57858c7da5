"""The recorder: turns requests, queries and cache operations into bucketed series.

One :class:`Recorder` per process (see ``monitoring.runtime``); tests build their own.
Every ``record_*`` method is on the hot path of the host site: a few dictionary updates
under one lock, no I/O, no regular expression for a statement already seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from . import metrics as m
from .aggregate import Bucket, Histogram, SlowQuery
from .context import RequestState
from .sql import fingerprint_sql

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


class Recorder:
    """Aggregates events of this process into time buckets until they are drained."""

    def __init__(self, config: dict[str, Any], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.bucket_seconds = int(config["BUCKET_SECONDS"])
        self.accuracy = float(config["SKETCH_RELATIVE_ACCURACY"])
        self.slow_query_seconds = float(config["SLOW_QUERY_MS"]) / 1000.0
        self.n_plus_one_threshold = int(config["N_PLUS_ONE_THRESHOLD"])
        self.max_slow_queries = int(config["MAX_SLOW_QUERIES"])
        self.bounds = {
            metric.name: tuple(float(b) for b in config[metric.buckets])
            for metric in m.ALL
            if metric.buckets
        }
        prefix_path = config["CACHE_KEY_PREFIX_FUNCTION"]
        self.key_prefix: Callable[[str], str] = (
            import_string(prefix_path) if prefix_path else default_key_prefix
        )
        self.routes = LabelLimit("route", config["MAX_ROUTES"])
        self.fingerprints = LabelLimit("fingerprint", config["MAX_FINGERPRINTS"])
        self.prefixes = LabelLimit("prefix", config["MAX_CACHE_PREFIXES"])
        self.exceptions = LabelLimit("exception", config["MAX_EXCEPTION_TYPES"])
        self.lock = threading.Lock()
        self._buckets: dict[int, Bucket] = {}
        self._current: Bucket | None = None
        self._reported_overflow: dict[str, int] = {}

    # -- bucket primitives (call with self.lock held) -------------------------------------

    def _bucket(self) -> Bucket:
        now = int(self.clock())
        start = now - now % self.bucket_seconds
        current = self._current
        if current is not None and current.start == start:
            return current
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = Bucket(start, self.bucket_seconds, max_slow_queries=self.max_slow_queries)
            self._buckets[start] = bucket
        self._current = bucket
        return bucket

    def _observe(self, bucket: Bucket, name: str, labels: tuple[str, ...], value: float) -> None:
        key = (name, labels)
        hist = bucket.histograms.get(key)
        if hist is None:
            hist = bucket.histograms[key] = Histogram(self.bounds[name], self.accuracy)
        hist.observe(value)

    @staticmethod
    def _inc(bucket: Bucket, name: str, labels: tuple[str, ...], amount: float = 1) -> None:
        key = (name, labels)
        counters = bucket.counters
        counters[key] = counters.get(key, 0) + amount

    # -- events ---------------------------------------------------------------------------

    def record_request(
        self, state: RequestState, method: str, status: int, duration: float
    ) -> None:
        """Record one finished request and what it did."""
        route = self.routes(state.route)
        method = method if method in HTTP_METHODS else m.OTHER
        with self.lock:
            bucket = self._bucket()
            self._inc(bucket, m.REQUESTS.name, (method, route, str(status)))
            self._observe(bucket, m.REQUEST_DURATION.name, (method, route), duration)
            self._observe(bucket, m.QUERIES_PER_REQUEST.name, (route,), state.queries)
            if state.exception is not None:
                exception = self.exceptions(state.exception)
                self._inc(bucket, m.EXCEPTIONS.name, (route, exception))
            if state.cache_hits:
                self._inc(bucket, m.CACHE_ROUTE_GETS.name, (route, "hit"), state.cache_hits)
            if state.cache_misses:
                self._inc(bucket, m.CACHE_ROUTE_GETS.name, (route, "miss"), state.cache_misses)
            for statement, count in state.statements.items():
                self._inc(bucket, m.FINGERPRINT_ROUTES.name, (statement, route), count)
                # Folded statements are many different ones; they cannot be an N+1.
                if count >= self.n_plus_one_threshold and statement != m.OTHER:
                    self._inc(bucket, m.N_PLUS_ONE.name, (route, statement))
                    key = (m.N_PLUS_ONE_MAX.name, (route, statement))
                    if count > bucket.maxima.get(key, 0):
                        bucket.maxima[key] = count

    def record_query(
        self, alias: str, vendor: str, sql: str, duration: float, state: RequestState | None
    ) -> None:
        """Record one executed statement (``sql`` is never stored, only its fingerprint)."""
        fingerprint = fingerprint_sql(sql, vendor)
        statement = self.fingerprints(fingerprint.id)
        with self.lock:
            bucket = self._bucket()
            self._observe(bucket, m.QUERY_DURATION.name, (alias, fingerprint.operation), duration)
            self._observe(bucket, m.FINGERPRINT_DURATION.name, (statement,), duration)
            if statement not in bucket.statements:
                bucket.statements[statement] = fingerprint.sql if statement != m.OTHER else ""
            if state is not None:
                state.queries += 1
                state.statements[statement] = state.statements.get(statement, 0) + 1
            if duration >= self.slow_query_seconds:
                self._record_slow(bucket, alias, statement, duration, state)

    def _record_slow(
        self,
        bucket: Bucket,
        alias: str,
        statement: str,
        duration: float,
        state: RequestState | None,
    ) -> None:
        route = self.routes(state.route) if state is not None else m.NO_REQUEST_ROUTE
        self._inc(bucket, m.SLOW_QUERIES.name, (alias, route))
        bucket.add_slow_query(SlowQuery(duration, self.clock(), statement, alias, route))

    def record_db_error(self, alias: str, error: str) -> None:
        """Record a failed statement or connection attempt by exception class."""
        error = self.exceptions(error)
        with self.lock:
            self._inc(self._bucket(), m.DB_ERRORS.name, (alias, error))

    def record_connection_error(self, alias: str, error: str, reason: str) -> None:
        """Record a failure to obtain a connection (also counted as a database error)."""
        error = self.exceptions(error)
        with self.lock:
            bucket = self._bucket()
            self._inc(bucket, m.DB_ERRORS.name, (alias, error))
            self._inc(bucket, m.DB_CONNECTION_ERRORS.name, (alias, reason))

    def record_cache_operation(self, cache: str, operation: str, duration: float) -> None:
        """Record the duration of one cache operation."""
        with self.lock:
            self._observe(
                self._bucket(), m.CACHE_OPERATION_DURATION.name, (cache, operation), duration
            )

    def record_cache_read(
        self, cache: str, key: str, hit: bool, state: RequestState | None, count: int = 1
    ) -> None:
        """Record ``count`` reads of keys sharing ``key``'s prefix, all hits or all misses."""
        prefix = self.prefixes(self.key_prefix(key))
        result = "hit" if hit else "miss"
        with self.lock:
            self._inc(self._bucket(), m.CACHE_GETS.name, (cache, prefix, result), count)
        if state is not None:
            if hit:
                state.cache_hits += count
            else:
                state.cache_misses += count

    # -- draining -------------------------------------------------------------------------

    def drain(self) -> list[Bucket]:
        """Take every bucket recorded so far, leaving the recorder empty."""
        with self.lock:
            self._count_overflow()
            buckets = [b for b in self._buckets.values() if not b.is_empty()]
            self._buckets = {}
            self._current = None
        return sorted(buckets, key=lambda b: b.start)

    def _count_overflow(self) -> None:
        for limit in (self.routes, self.fingerprints, self.prefixes, self.exceptions):
            new = limit.overflow - self._reported_overflow.get(limit.label, 0)
            if new:
                self._inc(self._bucket(), m.LABEL_OVERFLOW.name, (limit.label,), new)
                self._reported_overflow[limit.label] = limit.overflow
