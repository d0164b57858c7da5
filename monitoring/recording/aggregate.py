"""In-process aggregation: time buckets of counters, maxima and histograms with sketches.

A :class:`Bucket` holds everything recorded during one time slice (10 s by default).
Buckets merge exactly (counters add, histogram counts add, sketches merge), which is what
lets workers, hosts and rollups combine them without losing accuracy. Percentiles come
from DDSketch, whose relative error is fixed by ``SKETCH_RELATIVE_ACCURACY``.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ddsketch import LogCollapsingLowestDenseDDSketch

# Bounds the bins of one sketch (memory); with 1% accuracy 1024 bins span a ratio of
# about 10^8 between the smallest and largest value kept exactly.
SKETCH_BIN_LIMIT = 1024

SeriesKey = tuple[str, tuple[str, ...]]


def new_sketch(relative_accuracy: float) -> LogCollapsingLowestDenseDDSketch:
    """Return an empty, mergeable quantile sketch."""
    return LogCollapsingLowestDenseDDSketch(relative_accuracy, bin_limit=SKETCH_BIN_LIMIT)


class Histogram:
    """Fixed Prometheus buckets plus a quantile sketch of the same observations.

    ``counts[i]`` is the number of observations ``<= bounds[i]`` and ``> bounds[i-1]``;
    the last entry counts those above every bound (``+Inf``). ``sketch`` is None in
    cumulative totals, which only Prometheus reads.
    """

    __slots__ = ("accuracy", "bounds", "count", "counts", "sketch", "sum")

    def __init__(self, bounds: Sequence[float], relative_accuracy: float | None) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.accuracy = relative_accuracy
        self.sketch = None if relative_accuracy is None else new_sketch(relative_accuracy)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        if self.sketch is not None:
            self.sketch.add(value)

    def merge(self, other: Histogram) -> None:
        """Add ``other`` into this histogram (same bounds)."""
        if list(other.bounds) != list(self.bounds):
            raise ValueError("cannot merge histograms with different bounds")
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.count += other.count
        self.sum += other.sum
        if self.sketch is not None and other.sketch is not None:
            self.sketch.merge(other.sketch)

    def quantile(self, q: float) -> float | None:
        """Return the ``q`` quantile (0..1) from the sketch, or None when empty."""
        if self.sketch is None or self.count == 0:
            return None
        value = self.sketch.get_quantile_value(q)
        return None if value is None else max(float(value), 0.0)

    def copy(self, keep_sketch: bool = True) -> Histogram:
        clone = Histogram(self.bounds, None)
        clone.counts = list(self.counts)
        clone.count = self.count
        clone.sum = self.sum
        if keep_sketch and self.sketch is not None and self.accuracy is not None:
            clone.accuracy = self.accuracy
            clone.sketch = new_sketch(self.accuracy)
            clone.sketch.merge(self.sketch)
        return clone


@dataclass(order=True)
class SlowQuery:
    """One query slower than ``SLOW_QUERY_MS``: no parameters, only the fingerprint."""

    duration: float
    timestamp: float = field(compare=False)
    fingerprint: str = field(compare=False)
    alias: str = field(compare=False)
    route: str = field(compare=False)


@dataclass
class Bucket:
    """Everything recorded in ``[start, start + seconds)``."""

    start: int
    seconds: int
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    maxima: dict[SeriesKey, float] = field(default_factory=dict)
    histograms: dict[SeriesKey, Histogram] = field(default_factory=dict)
    slow_queries: list[SlowQuery] = field(default_factory=list)
    # Fingerprint id -> normalised SQL, for every fingerprint named in this bucket.
    statements: dict[str, str] = field(default_factory=dict)
    max_slow_queries: int = 50

    def add_slow_query(self, entry: SlowQuery) -> None:
        """Keep the slowest ``max_slow_queries`` entries (a min-heap on duration)."""
        if len(self.slow_queries) < self.max_slow_queries:
            heapq.heappush(self.slow_queries, entry)
        elif entry.duration > self.slow_queries[0].duration:
            heapq.heapreplace(self.slow_queries, entry)

    def merge(self, other: Bucket, keep_sketches: bool = True) -> None:
        """Add everything in ``other`` into this bucket."""
        counters = self.counters
        for key, value in other.counters.items():
            counters[key] = counters.get(key, 0.0) + value
        maxima = self.maxima
        for key, value in other.maxima.items():
            if value > maxima.get(key, float("-inf")):
                maxima[key] = value
        for key, hist in other.histograms.items():
            mine = self.histograms.get(key)
            if mine is None:
                self.histograms[key] = hist.copy(keep_sketches)
            else:
                mine.merge(hist)
        if keep_sketches:
            for entry in other.slow_queries:
                self.add_slow_query(entry)
            self.statements.update(other.statements)

    def is_empty(self) -> bool:
        return not (self.counters or self.maxima or self.histograms or self.slow_queries)


def merge_buckets(
    buckets: Iterable[Bucket], start: int = 0, seconds: int = 0, max_slow_queries: int = 50
) -> Bucket:
    """Return one new bucket holding the sum of ``buckets``."""
    merged = Bucket(start, seconds, max_slow_queries=max_slow_queries)
    for bucket in buckets:
        merged.merge(bucket)
    return merged
