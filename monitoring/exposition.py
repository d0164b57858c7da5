"""Store totals -> Prometheus text exposition or OpenMetrics. No request code here.

:func:`render` takes the cumulative totals (a :class:`Bucket` without sketches) and any
extra gauge families, and returns the body and content type. Histogram buckets are the
exact counts recorded per bound, made cumulative as Prometheus expects.

Per-statement series (:func:`fingerprint_families`) feed the Grafana slow-query table.
Fingerprints are bounded by ``MAX_FINGERPRINTS`` (1,000 by default), far too many series
per scrape, so only the top ``PROMETHEUS_TOP_FINGERPRINTS`` by total time keep their own
and the rest are summed into ``fingerprint="other"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, exposition
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
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


@dataclass
class FingerprintTotal:
    """One statement's totals summed over database aliases (and operations)."""

    seconds: float = 0.0
    queries: float = 0.0
    operation: str = ""


# Long enough to recognise a statement in a table cell; Prometheus keeps every distinct
# label value in its index, so whole multi-kilobyte statements would cost it dearly.
STATEMENT_LABEL_CHARS = 200
FINGERPRINT_SECONDS_HELP = (
    "Total time spent executing each normalised statement, in seconds: the top "
    'PROMETHEUS_TOP_FINGERPRINTS by total time, the rest summed as fingerprint="other".'
)
FINGERPRINT_QUERIES_HELP = (
    "Executions of each normalised statement (same fingerprints as "
    "django_db_fingerprint_duration_seconds_total)."
)
FINGERPRINT_INFO_HELP = (
    "Normalised SQL (no literal values, at most 200 characters) and operation of each "
    "fingerprint with series of its own that ran in the last 5 minutes."
)


def fingerprint_totals(totals: Bucket) -> dict[str, FingerprintTotal]:
    """Seconds and executions of each fingerprint id, summed over aliases and operations."""
    found: dict[str, FingerprintTotal] = {}
    for (name, labels), hist in sorted(totals.histograms.items(), key=lambda i: i[0]):
        if name != m.FINGERPRINT_DURATION.name:
            continue
        _, operation, fingerprint = labels
        total = found.setdefault(fingerprint, FingerprintTotal(operation=operation))
        total.seconds += hist.sum
        total.queries += hist.count
    return found


def rank_fingerprints(
    found: Mapping[str, FingerprintTotal], top: int
) -> list[tuple[str, FingerprintTotal]]:
    """The ``top`` fingerprints by total time, then ``other`` holding the sum of the rest.

    Statements already folded into ``other`` by ``MAX_FINGERPRINTS`` stay in it; ties are
    broken by id so that the cut does not move between scrapes of the same totals.
    """
    ranked = sorted((fp for fp in found if fp != m.OTHER), key=lambda fp: (-found[fp].seconds, fp))
    kept = [(fp, found[fp]) for fp in ranked[:top]]
    rest = [found[fp] for fp in ranked[top:]]
    if m.OTHER in found:
        rest.append(found[m.OTHER])
    if rest:
        other = FingerprintTotal(
            sum(t.seconds for t in rest), sum(t.queries for t in rest), m.OTHER
        )
        kept.append((m.OTHER, other))
    return kept


def statement_label(sql: str) -> str:
    """``sql`` on one line, cut to :data:`STATEMENT_LABEL_CHARS` characters."""
    text = " ".join(sql.split())
    if len(text) <= STATEMENT_LABEL_CHARS:
        return text
    return text[: STATEMENT_LABEL_CHARS - 1] + "\u2026"


def fingerprint_families(
    totals: Bucket, statements: Mapping[str, str], top: int = 20
) -> list[Metric]:
    """The per-statement counters and the info rows naming their SQL.

    ``statements`` maps fingerprint ids to normalised SQL (the cumulative totals keep
    none); a fingerprint missing from it has counters but no info row, as has ``other``.
    """
    rows = rank_fingerprints(fingerprint_totals(totals), top)
    seconds = CounterMetricFamily(
        "django_db_fingerprint_duration_seconds", FINGERPRINT_SECONDS_HELP, labels=["fingerprint"]
    )
    queries = CounterMetricFamily(
        "django_db_fingerprint_queries", FINGERPRINT_QUERIES_HELP, labels=["fingerprint"]
    )
    info = InfoMetricFamily("django_db_fingerprint", FINGERPRINT_INFO_HELP, labels=["fingerprint"])
    for fingerprint, total in rows:
        seconds.add_metric([fingerprint], total.seconds)
        queries.add_metric([fingerprint], total.queries)
        sql = statements.get(fingerprint) if fingerprint != m.OTHER else None
        if sql:
            info.add_metric(
                [fingerprint], {"statement": statement_label(sql), "operation": total.operation}
            )
    return [seconds, queries, info]


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


def with_zero_connection_errors(totals: Bucket, aliases: Iterable[str]) -> Bucket:
    """``totals`` with a 0 for every database alias and connection failure reason not seen.

    A counter that appears for the first time shows no ``increase()`` in Prometheus, so
    without these the first connection failure of a kind would never alert there.
    """
    for alias in aliases:
        for reason in m.CONNECTION_ERROR_REASONS:
            totals.counters.setdefault((m.DB_CONNECTION_ERRORS.name, (alias, reason)), 0.0)
    return totals


def render(
    totals: Bucket,
    extra: Iterable[Metric] = (),
    openmetrics_format: bool = False,
    statements: Mapping[str, str] | None = None,
    top_fingerprints: int = 20,
) -> tuple[bytes, str]:
    """Return (body, content type) for ``totals`` plus the ``extra`` families.

    ``statements`` (fingerprint id -> normalised SQL, default ``totals.statements``) names
    the ``top_fingerprints`` statements that keep series of their own.
    """
    per_statement = fingerprint_families(
        totals, totals.statements if statements is None else statements, top_fingerprints
    )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector([*families(totals), *per_statement, *extra]))
    if openmetrics_format:
        return openmetrics.generate_latest(registry), openmetrics.CONTENT_TYPE_LATEST
    return exposition.generate_latest(registry), PROMETHEUS_TEXT
