"""The store contract: what every metric store does, and the tiers windows read from.

A store receives closed or partial :class:`~monitoring.recording.aggregate.Bucket` s from
every process (``write``), merges them by time, keeps cumulative totals for Prometheus
(``read_totals``), and answers windowed reads. Writing the same time slice twice adds to
it: a partial bucket flushed early and the rest flushed later sum to the right numbers.

Long windows must not cost more as buckets pile up, so every written bucket also merges
into coarser tiers. A read covers its window with the widest buckets that fit inside it
and finer ones towards its start (:meth:`BaseStore.plan`): the last hour is one 1 h
bucket, a few 10 min and 1 min buckets and at most one partial bucket, not 360 buckets of
10 s.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..recording.aggregate import Bucket
from ..window import Window
from . import codec
from .codec import Document


class Tier(NamedTuple):
    """Buckets of ``seconds`` width, kept for ``keep`` seconds (None: the retention)."""

    seconds: int
    keep: int | None


# 10 s for 15 min, 1 min for 3 h, 10 min for 6 h, 1 h for the retention: a 24 h window
# merges 25 buckets, not 8,640.
class Span(NamedTuple):
    """Buckets of one tier, ``seconds`` wide, starting from ``first`` to ``last``."""

    seconds: int
    first: int
    last: int


DEFAULT_TIERS = (Tier(10, 15 * 60), Tier(60, 3 * 3600), Tier(600, 6 * 3600), Tier(3600, None))


class BaseStore(ABC):
    """Base class of every store; subclasses implement the abstract methods."""

    def __init__(
        self,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = int(retention_hours * 3600)
        self.tiers = tuple(tiers)
        self.clock = clock
        for finer, coarser in itertools.pairwise(self.tiers):
            if coarser.seconds % finer.seconds:
                raise ValueError("each tier's width must be a multiple of the finer tier's")

    @classmethod
    def from_url(cls, url: str, retention_hours: float, host: str | None = None) -> BaseStore:
        """Build the store from its ``MONITORING_STORE_URL``."""
        return cls(retention_hours=retention_hours)

    @abstractmethod
    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        """Merge ``buckets`` into every tier and into this host's cumulative totals.

        ``batch_id`` names the batch: a store that can tell applies a batch retried under
        the same id only once.
        """

    @abstractmethod
    def read_documents(
        self, resolution: int, since: float, until: float
    ) -> list[tuple[int, Document]]:
        """(start, document) of the tier-``resolution`` buckets overlapping ``[since, until]``,
        oldest first; the documents (``codec``) are the caller's to change."""

    def plan(self, since: float, until: float, now: float | None = None) -> list[Span]:
        """The tier buckets whose sum is ``[since, until]``, as (width, first, last start).

        The widest tier that still keeps data back to ``since`` covers what its whole
        buckets can; each finer tier covers the stretch left before that, and the finest
        one, where ``since`` falls inside one of its buckets, adds that bucket whole (a
        window reaches back to the start of the bucket holding its start). Widths nest,
        so no time is counted twice.
        """
        now = self.clock() if now is None else now
        usable = [t for t in self.tiers if self.keep_seconds(t) >= now - since]
        usable = usable or [self.tiers[-1]]
        spans: list[Span] = []
        end: float | None = None  # the uncovered stretch is [since, end)
        for tier in reversed(usable):
            width = tier.seconds
            first = math.ceil(since / width) * width
            last = int(until // width) * width if end is None else int(end) - width
            if first <= last:
                spans.append(Span(width, first, last))
                end = first
        if end is None or end > since:
            width = usable[0].seconds
            partial = int(since // width) * width
            spans.append(Span(width, partial, partial))
        return spans

    def merge_documents(self, spans: Sequence[Span]) -> Document:
        """The sum of the documents of ``spans`` (see :meth:`plan`)."""
        return codec.merge_documents(
            doc
            for span in spans
            for _, doc in self.read_documents(span.seconds, span.first, span.last)
        )

    def read_buckets(self, resolution: int, since: float, until: float) -> list[Bucket]:
        """Return the tier-``resolution`` buckets overlapping ``[since, until]``, oldest first."""
        return [
            codec.decode(doc, start, resolution)
            for start, doc in self.read_documents(resolution, since, until)
        ]

    @abstractmethod
    def read_totals(self) -> Bucket:
        """Return cumulative counters and histogram counts since the store began (no sketches)."""

    @abstractmethod
    def purge(self, now: float | None = None) -> None:
        """Remove data older than each tier keeps it (the last tier: the retention)."""

    @abstractmethod
    def beat(self, name: str, at: float | None = None) -> None:
        """Record that ``name`` (the background service) completed a cycle at ``at``."""

    @abstractmethod
    def last_beat(self, name: str) -> float | None:
        """When ``name`` last called :meth:`beat`, or None if it never did."""

    def ping(self) -> None:  # noqa: B027 - optional hook; in-process stores are always up
        """Raise if the store cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional hook; nothing to release by default
        """Release connections; the store may be used again afterwards."""

    def rollup(self, buckets: Sequence[Bucket]) -> dict[tuple[int, int], Bucket]:
        """``buckets`` merged into the bucket of every tier they fall in, by (width, start).

        Tier buckets already past what their tier keeps are left out: writing them would
        only have them purged again.
        """
        now = self.clock()
        merged: dict[tuple[int, int], Bucket] = {}
        for tier in self.tiers:
            horizon = now - self.keep_seconds(tier)
            for bucket in buckets:
                start = bucket.start - bucket.start % tier.seconds
                if start + tier.seconds <= horizon:
                    continue
                target = merged.get((tier.seconds, start))
                if target is None:
                    target = merged[tier.seconds, start] = Bucket(
                        start, tier.seconds, max_slow_queries=bucket.max_slow_queries
                    )
                target.merge(bucket)
        return merged

    @staticmethod
    def totals_of(buckets: Sequence[Bucket]) -> Bucket:
        """The cumulative part of ``buckets``: counters and histogram counts, no sketches."""
        totals = Bucket(0, 0)
        for bucket in buckets:
            totals.merge(bucket, keep_sketches=False)
        return totals

    def keep_seconds(self, tier: Tier) -> int:
        return min(tier.keep or self.retention_seconds, self.retention_seconds)

    def tier_for(self, seconds: float) -> Tier:
        """The finest tier whose kept span covers a window of ``seconds``."""
        for tier in self.tiers:
            if seconds <= self.keep_seconds(tier):
                return tier
        return self.tiers[-1]

    def read_window(self, seconds: float, now: float | None = None) -> Window:
        """Merge every bucket overlapping the last ``seconds`` into one :class:`Window`.

        Raises ValueError for a window longer than the retention.
        """
        if not 0 < seconds <= self.retention_seconds:
            raise ValueError(
                f"window must be between 1 s and the retention ({self.retention_seconds} s)"
            )
        now = self.clock() if now is None else now
        spans = self.plan(now - seconds, now, now)
        start = min(now - seconds, *(span.first for span in spans))
        merged = self.merge_documents(spans)
        return Window(
            start=start, end=now, data=codec.decode(merged, int(start), int(now - start))
        )


class SharedStore(BaseStore):
    """A store that keeps documents as JSON text on a server (database, Redis).

    Parsing and merging a day of hour buckets is most of a long window's cost, and all but
    the newest of those buckets no longer change. So the sum of the settled ones (ended
    ``SETTLED_AFTER`` seconds ago) is kept in memory, keyed by their exact texts: a read
    fetches every text, but parses and merges only what changed since the last read of
    that window. A late write to an old bucket changes its text, and with it the key.
    """

    SETTLED_AFTER = 120
    CACHED_WINDOWS = 4

    def __init__(
        self,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_hours, tiers, clock)
        self._settled: OrderedDict[tuple[Any, ...], Document] = OrderedDict()
        self._settled_lock = threading.Lock()

    @abstractmethod
    def read_texts(self, spans: Sequence[Span]) -> list[tuple[int, int, str | bytes]]:
        """(width, start, JSON text) of every stored bucket of ``spans``, in one request."""

    def merge_documents(self, spans: Sequence[Span]) -> Document:
        now = self.clock()
        settled: list[tuple[int, int, str | bytes]] = []
        fresh: list[tuple[int, int, str | bytes]] = []
        for width, start, text in self.read_texts(spans):
            entry = (width, start, text)
            (settled if start + width + self.SETTLED_AFTER <= now else fresh).append(entry)
        key = tuple((width, start, len(text), hash(text)) for width, start, text in settled)
        with self._settled_lock:
            base = self._settled.get(key)
            if base is not None:
                self._settled.move_to_end(key)
        if base is None:
            base = codec.merge_documents(codec.loads_document(t) for _, _, t in settled)
            with self._settled_lock:
                self._settled[key] = base
                while len(self._settled) > self.CACHED_WINDOWS:
                    self._settled.popitem(last=False)
        merged = codec.merge_documents([base])  # a copy: the cached sum stays as it is
        for _, _, text in fresh:
            codec.merge_into(merged, codec.loads_document(text))
        return merged
