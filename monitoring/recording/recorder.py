"""The recorder: what the host site's request path calls, and nothing more.

Every ``record_*`` method runs inside the host's requests, queries and cache operations,
so it only appends a tuple: to the request's own state while a request is open, else to
the process's pending queue. Fingerprinting, label bounds, histograms and sketches happen
in :meth:`Recorder.drain` (the flusher thread), in one tight loop over the batch, where
they cost a fraction of what they would per event. One :class:`Recorder` per process (see
``monitoring.runtime``); tests build their own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .aggregate import Bucket
from .aggregator import (
    CACHE_GET,
    CACHE_OPERATION,
    CACHE_READ,
    CONNECTION_ERROR,
    COUNT,
    DB_ERROR,
    OUTSIDE,
    QUERY,
    REQUEST,
    Aggregator,
    Event,
)
from .context import RequestState, route_of
from .safety import report_internal_error

# Events one request keeps for aggregation; a request doing more still counts every query,
# but the excess events are aggregated without its route.
MAX_EVENTS_PER_REQUEST = 10_000
# Pending records that wake the flusher early, and the most kept (beyond: dropped, counted).
WAKE_AT = 20_000
MAX_PENDING = 500_000


class Recorder:
    """Collects the events of this process until :meth:`drain` aggregates them."""

    def __init__(self, config: dict[str, Any], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.aggregator = Aggregator(config)
        self.pending: deque[tuple[Any, ...]] = deque()
        self.dropped = 0
        self.on_backlog: Callable[[], None] | None = None
        self._drain_lock = threading.Lock()

    # -- the hot path ---------------------------------------------------------------------

    def record_request(
        self, state: RequestState, method: str, status: int, duration: float
    ) -> None:
        """Record one finished request; its events are aggregated later."""
        route = route_of(state.request)
        state.request = None  # keep nothing of the request alive until the flush
        self._push((REQUEST, self.clock(), method, route, status, duration, state))

    def record_query(
        self, alias: str, vendor: str, sql: str, duration: float, state: RequestState | None
    ) -> None:
        """Record one executed statement (only its fingerprint is ever kept)."""
        if state is not None and not state.muted:
            state.queries += 1
        self._event((QUERY, alias, vendor, sql, duration), state)

    def record_db_error(self, alias: str, error: str, state: RequestState | None = None) -> None:
        """Record a failed statement by exception class."""
        self._event((DB_ERROR, alias, error), state)

    def record_connection_error(
        self, alias: str, error: str, reason: str, state: RequestState | None = None
    ) -> None:
        """Record a failure to obtain a connection (also counted as a database error)."""
        self._event((CONNECTION_ERROR, alias, error, reason), state)

    def record_cache_get(
        self, cache: str, key: str, hit: bool, duration: float, state: RequestState | None
    ) -> None:
        """Record one ``get``: its duration and whether it was a hit."""
        self._event((CACHE_GET, cache, key, hit, duration), state)

    def record_cache_operation(
        self, cache: str, operation: str, duration: float, state: RequestState | None = None
    ) -> None:
        """Record the duration of one cache operation other than ``get``."""
        self._event((CACHE_OPERATION, cache, operation, duration), state)

    def record_cache_read(
        self, cache: str, key: str, hit: bool, state: RequestState | None, count: int = 1
    ) -> None:
        """Record ``count`` reads of keys sharing ``key``'s prefix, all hits or all misses."""
        self._event((CACHE_READ, cache, key, hit, count), state)

    def count(self, metric: str, amount: float = 1, labels: tuple[str, ...] = ()) -> None:
        """Add ``amount`` to one of monitoring's own counters (not the site's)."""
        self._push((OUTSIDE, self.clock(), (COUNT, metric, labels, amount)))

    def _event(self, event: Event, state: RequestState | None) -> None:
        if state is not None:
            if state.muted:  # monitoring's own work, or an excluded path: not recorded
                return
            events = state.events
            if len(events) < MAX_EVENTS_PER_REQUEST:
                events.append(event)
                return
        self._push((OUTSIDE, self.clock(), event))

    def _push(self, record: tuple[Any, ...]) -> None:
        pending = self.pending
        size = len(pending)
        if size >= MAX_PENDING:
            self.dropped += 1
            return
        pending.append(record)
        if size == WAKE_AT and self.on_backlog is not None:
            self.on_backlog()

    # -- draining -------------------------------------------------------------------------

    def drain(self) -> list[Bucket]:
        """Aggregate everything recorded so far into buckets and hand them over."""
        with self._drain_lock:
            pending, aggregator = self.pending, self.aggregator
            while pending:
                record = pending.popleft()
                try:
                    aggregator.add(record)
                except Exception as exc:
                    report_internal_error("aggregate", exc)
            return aggregator.take(self.clock(), self.dropped)
