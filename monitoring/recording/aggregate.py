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
from math import ceil, log

from .sketch import ZERO_KEY, Bins, key_constants, merge_bins, quantiles

SeriesKey = tuple[str, tuple[str, ...]]


class Histogram:
    """Fixed Prometheus buckets plus a quantile sketch of the same observations.

    ``counts[i]`` is the number of observations ``<= bounds[i]`` and ``> bounds[i-1]``;
    the last entry counts those above every bound (``+Inf``). ``bins`` is the sketch (see
    ``sketch.py``); it is None where no percentile is needed, as in cumulative totals.
    """

    __slots__ = ("accuracy", "bins", "bounds", "count", "counts", "multiplier", "smallest", "sum")

    def __init__(self, bounds: Sequence[float], relative_accuracy: float | None) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.accuracy = relative_accuracy
        self.bins: Bins | None = None
        if relative_accuracy is not None:
            self.bins = {}
            self.multiplier, self.smallest = key_constants(relative_accuracy)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        bins = self.bins
        if bins is not None:
            # bin_key(), inlined: this runs for every request, query and cache operation.
            key = (
                int(ceil(log(value, 2) * self.multiplier) + 0.0)
                if value > self.smallest
                else ZERO_KEY
            )
            bins[key] = bins.get(key, 0) + 1

    def merge(self, other: Histogram) -> None:
        """Add ``other`` into this histogram (same bounds)."""
        if len(other.counts) != len(self.counts) or list(other.bounds) != list(self.bounds):
            raise ValueError("cannot merge histograms with different bounds")
        counts = self.counts
        for i, n in enumerate(other.counts):
            counts[i] += n
        self.count += other.count
        self.sum += other.sum
        if self.bins is not None and other.bins is not None:
            if other.accuracy != self.accuracy:
                raise ValueError("cannot merge sketches of different accuracy")
            merge_bins(self.bins, other.bins)

    def quantiles(self, *qs: float) -> list[float | None]:
        """The ``qs`` quantiles (0..1), within the sketch's relative error; None when empty."""
        if self.bins is None or self.accuracy is None or self.count == 0:
            return [None for _ in qs]
        return quantiles(self.bins, self.accuracy, qs)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1); see :meth:`quantiles` for several at once."""
        return self.quantiles(q)[0]

    def copy(self, keep_sketch: bool = True) -> Histogram:
        clone = Histogram(self.bounds, self.accuracy if keep_sketch else None)
        clone.counts = list(self.counts)
        clone.count = self.count
        clone.sum = self.sum
        if clone.bins is not None and self.bins is not None:
            clone.bins = dict(self.bins)
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
        """Add everything in ``other`` into this bucket.

        A histogram whose buckets changed (``*_BUCKETS`` reconfigured) cannot be added to
        the old one: the newer series replaces it, as a counter reset would.
        """
        counters = self.counters
        for key, value in other.counters.items():
            counters[key] = counters.get(key, 0.0) + value
        maxima = self.maxima
        for key, value in other.maxima.items():
            if value > maxima.get(key, float("-inf")):
                maxima[key] = value
        for key, hist in other.histograms.items():
            mine = self.histograms.get(key)
            if mine is None or list(mine.bounds) != list(hist.bounds):
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
