"""Buckets, histograms and sketches: exact counts, percentiles within the stated error."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from ddsketch import LogarithmicMapping

from monitoring.recording.aggregate import Bucket, Histogram, SlowQuery, merge_buckets
from monitoring.recording.sketch import ZERO_KEY, bin_key, key_constants

ACCURACY = 0.01
QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99, 0.999)


def exact_quantile(values: list[float], q: float) -> float:
    """The value of rank floor(q * (n - 1)) in sorted order (the sketch's definition)."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


DISTRIBUTIONS = {
    "lognormal latency": lambda rng: rng.lognormvariate(-4, 1.2),
    "uniform 1 ms - 2 s": lambda rng: rng.uniform(0.001, 2.0),
    "exponential": lambda rng: rng.expovariate(20),
    "bimodal cache hit/miss": lambda rng: rng.choice(
        (rng.gauss(0.0002, 0.00002), rng.gauss(0.05, 0.01))
    ),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_percentiles_are_within_one_percent_of_exact(name: str) -> None:
    rng = random.Random(name)
    values = [abs(DISTRIBUTIONS[name](rng)) + 1e-6 for _ in range(20_000)]
    hist = Histogram((0.1, 1.0), ACCURACY)
    for value in values:
        hist.observe(value)
    for q in QUANTILES:
        exact = exact_quantile(values, q)
        estimate = hist.quantile(q)
        assert estimate is not None
        assert abs(estimate - exact) <= ACCURACY * exact + 1e-12, (q, exact, estimate)


def test_merged_sketches_keep_the_accuracy_of_one_sketch() -> None:
    rng = random.Random(7)
    parts = [[rng.lognormvariate(-3, 1) for _ in range(3_000)] for _ in range(8)]
    merged = Histogram((1.0,), ACCURACY)
    for part in parts:
        hist = Histogram((1.0,), ACCURACY)
        for value in part:
            hist.observe(value)
        merged.merge(hist)
    everything = [v for part in parts for v in part]
    assert merged.count == len(everything)
    assert merged.sum == pytest.approx(sum(everything))
    for q in QUANTILES:
        exact = exact_quantile(everything, q)
        assert abs(merged.quantile(q) - exact) <= ACCURACY * exact  # type: ignore[operator]


def test_histogram_buckets_count_each_bound_inclusively() -> None:
    hist = Histogram((0.1, 0.5, 1.0), None)
    for value in (0.05, 0.1, 0.3, 0.5, 0.9, 1.0, 3.0):
        hist.observe(value)
    assert hist.counts == [2, 2, 2, 1]
    assert hist.count == 7
    assert hist.quantile(0.5) is None  # no sketch in cumulative totals


def test_histograms_with_other_bounds_do_not_merge() -> None:
    with pytest.raises(ValueError, match="different bounds"):
        Histogram((1.0,), None).merge(Histogram((2.0,), None))


def test_bucket_merge_adds_counters_keeps_maxima_and_slowest_queries() -> None:
    key = ("requests", ("GET", "/a/", "200"))
    first, second = Bucket(0, 10, max_slow_queries=2), Bucket(0, 10, max_slow_queries=2)
    first.counters[key] = 3
    second.counters[key] = 4
    first.maxima[("m", ())] = 5
    second.maxima[("m", ())] = 9
    for bucket, durations in ((first, (0.2, 0.9)), (second, (0.5, 0.1))):
        for duration in durations:
            bucket.add_slow_query(SlowQuery(duration, 0.0, "f", "default", "/a/"))
    merged = merge_buckets([first, second], max_slow_queries=2)
    assert merged.counters[key] == 7
    assert merged.maxima[("m", ())] == 9
    assert sorted(q.duration for q in merged.slow_queries) == [0.5, 0.9]


@pytest.mark.parametrize("accuracy", [0.01, 0.02, 0.005])
def test_bin_keys_are_ddsketch_keys(accuracy: float) -> None:
    rng = random.Random(accuracy)
    mapping = LogarithmicMapping(accuracy)
    constants = key_constants(accuracy)
    values = [10 ** rng.uniform(-7, 3) for _ in range(50_000)] + [1.0, 0.1, 2.0, 1e-6]
    hist = Histogram((1.0,), accuracy)
    for value in values:
        assert bin_key(value, *constants) == mapping.key(value)
        hist.observe(value)
    assert hist.bins == dict(Counter(mapping.key(v) for v in values))


def test_zero_and_tiny_values_share_the_zero_bin() -> None:
    hist = Histogram((1.0, 5.0), ACCURACY)
    for value in (0, 0, 0, 3):
        hist.observe(value)
    assert hist.bins is not None and hist.bins[ZERO_KEY] == 3
    assert hist.quantile(0.5) == 0.0
    assert hist.quantile(1.0) == pytest.approx(3, rel=ACCURACY)


@pytest.mark.parametrize("accuracy", [0.01, 0.02, 0.05])
def test_quantiles_are_ddsketchs_own_answers(accuracy: float) -> None:
    from monitoring.recording.sketch import quantiles, to_ddsketch

    rng = random.Random(int(accuracy * 1000))
    multiplier, smallest = key_constants(accuracy)
    for trial in range(30):
        bins: dict[int, int] = {}
        for _ in range(rng.randint(1, 400)):
            value = 0.0 if rng.random() < 0.05 else rng.lognormvariate(rng.uniform(-8, 2), 2)
            key = bin_key(value, multiplier, smallest)
            bins[key] = bins.get(key, 0) + rng.randint(1, 3)
        if trial % 7 == 0:
            bins = {ZERO_KEY: 5}  # only zeros
        qs = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)
        sketch = to_ddsketch(bins, accuracy)
        expected = [max(float(sketch.get_quantile_value(q)), 0.0) for q in qs]
        assert quantiles(bins, accuracy, qs) == expected
