"""Store totals -> Prometheus text exposition or OpenMetrics. No request code here.

:func:`render` takes the cumulative totals (a :class:`Bucket` without sketches) and any
extra gauge families, and returns the body and content type. Histogram buckets are the
exact counts recorded per bound, made cumulative as Prometheus expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.utils import floatToGoString

from .recording import metrics as m
from .recording.aggregate import Bucket, Histogram


def _histogram_buckets(hist: Histogram) -> list[tuple[str, float]]:
    cumulative = 0
    buckets = []
    for bound, count in zip(hist.bounds, hist.counts, strict=False):
        cumulative += count
        buckets.append((floatToGoString(bound), float(cumulative)))
    buckets.append(("+Inf", float(hist.count)))
    return buckets


def families(totals: Bucket) -> Iterator[Metric]:
    """Yield one metric family per exposed metric of the catalogue, from ``totals``."""
    for metric in m.ALL:
        if metric.prometheus is None:
            continue
        labels = list(metric.labels)
        if metric.kind == "counter":
            counter_family = CounterMetricFamily(metric.prometheus, metric.help, labels=labels)
            for (name, values), value in sorted(totals.counters.items()):
                if name == metric.name:
                    counter_family.add_metric(list(values), value)
            yield counter_family
        elif metric.kind == "histogram":
            histogram = HistogramMetricFamily(metric.prometheus, metric.help, labels=labels)
            for (name, values), hist in sorted(totals.histograms.items(), key=lambda i: i[0]):
                if name == metric.name:
                    histogram.add_metric(list(values), _histogram_buckets(hist), hist.sum)
            yield histogram


Samples = Iterable[tuple[Iterable[str], float]]


def _simple(family: GaugeMetricFamily | CounterMetricFamily, samples: Samples) -> Metric:
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def gauge(name: str, documentation: str, labels: Iterable[str], samples: Samples) -> Metric:
    """Build a gauge family from (label values, value) pairs."""
    return _simple(GaugeMetricFamily(name, documentation, labels=list(labels)), samples)


def counter(name: str, documentation: str, labels: Iterable[str], samples: Samples) -> Metric:
    """Build a counter family from (label values, value) pairs."""
    return _simple(CounterMetricFamily(name, documentation, labels=list(labels)), samples)


class _Collector:
    def __init__(self, collected: list[Metric]) -> None:
        self.collected = collected

    def collect(self) -> Iterable[Metric]:
        return self.collected


OPENMETRICS = "application/openmetrics-text"
# The classic text format, which every Prometheus release reads.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def wants_openmetrics(accept: str) -> bool:
    """True when an Accept header prefers OpenMetrics (as Prometheus sends it)."""
    return OPENMETRICS in accept


def render(
    totals: Bucket, extra: Iterable[Metric] = (), openmetrics_format: bool = False
) -> tuple[bytes, str]:
    """Return (body, content type) for ``totals`` plus the ``extra`` families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector([*families(totals), *extra]))
    if openmetrics_format:
        return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST
    return exposition.generate_latest(registry), PROMETHEUS_TEXT
