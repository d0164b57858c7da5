"""Quantile sketches as bin counters: DDSketch's logarithmic mapping, stored sparsely.

A sketch is a dict ``{key: count}`` of DDSketch bins. Recording a value computes its key
with exactly the floating-point steps of ``ddsketch.LogarithmicMapping.key`` (a test holds
the two equal), then bumps one counter: no objects, no calls into the library on the hot
path. Merging two sketches adds counters key by key, which is also how stores keep them
(Redis hash counters, database rows). Quantiles are answered by DDSketch itself, rebuilt
from the bins, so the stated relative error is the library's guarantee.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

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
    """The ``qs`` quantiles (0..1) of the values counted in ``bins``; None when empty."""
    if not bins:
        return [None for _ in qs]
    sketch = to_ddsketch(bins, relative_accuracy)
    values = [sketch.get_quantile_value(q) for q in qs]
    return [None if v is None else max(float(v), 0.0) for v in values]
