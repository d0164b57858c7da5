"""Quantile sketches as bin counters: DDSketch's logarithmic mapping, stored sparsely.

A sketch is a dict ``{key: count}`` of DDSketch bins. Recording a value computes its key
with exactly the floating-point steps of ``ddsketch.LogarithmicMapping.key`` (a test holds
the two equal), then bumps one counter: no objects, no calls into the library on the hot
path. Merging two sketches adds counters key by key (stores keep them as dense runs, see
``monitoring.stores.codec``). Quantiles are DDSketch's own answers, found by a walk over
the sorted bins with the library's mapping (a test holds them equal to a DDSketch rebuilt
from the bins), so the stated relative error is the library's guarantee.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate

from ddsketch import DDSketch, LogarithmicMapping

# The bin of values too small to tell from zero (queries per request of 0, for one).
ZERO_KEY = -(10**9)

Bins = dict[int, int]


@lru_cache(maxsize=8)
def key_constants(relative_accuracy: float) -> tuple[float, float]:
    """(multiplier, smallest positive value) of ``LogarithmicMapping(relative_accuracy)``."""
    gamma_mantissa = 2 * relative_accuracy / (1 - relative_accuracy)
    multiplier = 1 / math.log1p(gamma_mantissa)
    multiplier *= math.log(2)
    return multiplier, sys.float_info.min * (1 + gamma_mantissa)


def bin_key(value: float, multiplier: float, smallest: float) -> int:
    """The DDSketch bin of a non-negative ``value`` (see :func:`key_constants`)."""
    if value > smallest:
        return int(math.ceil(math.log(value, 2) * multiplier) + 0.0)
    return ZERO_KEY


def merge_bins(into: Bins, other: Bins) -> None:
    """Add the counters of ``other`` into ``into``."""
    for key, count in other.items():
        into[key] = into.get(key, 0) + count


@lru_cache(maxsize=8)
def _mapping(relative_accuracy: float) -> LogarithmicMapping:
    return LogarithmicMapping(relative_accuracy)


def to_ddsketch(bins: Bins, relative_accuracy: float) -> DDSketch:
    """Rebuild a DDSketch holding the same bins (each bin's count at its representative)."""
    mapping = _mapping(relative_accuracy)
    sketch = DDSketch(relative_accuracy)
    for key, count in bins.items():
        if count > 0:
            sketch.add(0.0 if key == ZERO_KEY else mapping.value(key), count)
    return sketch


def quantiles(bins: Bins, relative_accuracy: float, qs: tuple[float, ...]) -> list[float | None]:
    """The ``qs`` quantiles (0..1) of the values counted in ``bins``; None when empty.

    The answer of ``DDSketch.get_quantile_value`` on :func:`to_ddsketch` of the bins (a test
    holds the two equal), found by one walk over the sorted bins rather than by building
    the sketch: the rank ``q * (count - 1)`` falls in the zero bin (0.0) or in the first
    bin whose running count exceeds it, answered by the mapping's value of that bin.
    """
    zero = bins.get(ZERO_KEY, 0)
    keys = sorted(key for key, count in bins.items() if key != ZERO_KEY and count > 0)
    running = list(accumulate(bins[key] for key in keys))
    total = zero + (running[-1] if running else 0)
    if total <= 0:
        return [None for _ in qs]
    mapping = _mapping(relative_accuracy)
    answers: list[float | None] = []
    for q in qs:
        if not 0 <= q <= 1:
            answers.append(None)
            continue
        rank = q * (total - 1)
        if rank < zero or not keys:
            answers.append(0.0)
            continue
        index = min(bisect_right(running, rank - zero), len(keys) - 1)
        answers.append(max(float(mapping.value(keys[index])), 0.0))
    return answers
