"""What a rule can watch: each measure reads one number (and its sample size) off a window.

A measure is computed for the whole site, or for one route when the rule groups by route.
The sample size is what ``min_samples`` is compared with (requests for rates and latency,
statements for query latency, reads for the cache hit rate); measures that are counts have
no minimum of their own.

A measure *versus the baseline* (``p95_vs_baseline``) is the ratio of a figure now to the
same figure in the active baseline (``monitoring.baselines``), which the caller passes in:
without a baseline, or for a route the baseline does not have, there is no value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..recording import metrics as m
from ..summary import request_counts
from ..window import Window

if TYPE_CHECKING:
    from ..baselines import RecordedBaseline

Reading = tuple[float | None, float]  # (value, samples)


@dataclass(frozen=True)
class Versus:
    """The baseline figure a measure is compared with (an attribute of ``Figures``)."""

    figure: str
    label: str  # as people say it: "p95"
    unit: str  # the figure's own unit
    # A figure below this counts as this, on either side: below it changes are noise (a
    # 1 ms page taking 2 ms is no regression), and a route that made no queries and now
    # makes 40 reads 40x, not infinitely worse.
    floor: float

    def ratio(self, now: float | None, before: float | None) -> float | None:
        """``now`` as a multiple of ``before`` (None when either is missing)."""
        if now is None or before is None:
            return None
        return max(now, self.floor) / max(before, self.floor)


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str  # ratio, seconds, count, per_second, number, score, factor
    by_route: bool
    # For a measure versus the baseline, the figure now (see read_measure for the ratio).
    read: Callable[[Window, str | None], Reading]
    help: str
    versus: Versus | None = None


def _match(route: str | None) -> dict[str, str]:
    return {} if route is None else {"route": route}


def _error_rate(window: Window, route: str | None) -> Reading:
    requests, errors = request_counts(window, **_match(route))
    return (errors / requests if requests else None), requests


def _request_quantile(q: float) -> Callable[[Window, str | None], Reading]:
    def read(window: Window, route: str | None) -> Reading:
        hist = window.histogram(m.REQUEST_DURATION, **_match(route))
        if hist is None or not hist.count:
            return None, 0
        return hist.quantile(q), hist.count

    return read


def _query_quantile(q: float) -> Callable[[Window, str | None], Reading]:
    def read(window: Window, route: str | None) -> Reading:
        hist = window.histogram(m.FINGERPRINT_DURATION)
        if hist is None or not hist.count:
            return None, 0
        return hist.quantile(q), hist.count

    return read


def _count(metric: m.Metric) -> Callable[[Window, str | None], Reading]:
    def read(window: Window, route: str | None) -> Reading:
        value = window.total(metric, **_match(route))
        return value, value

    return read


def _errors_5xx(window: Window, route: str | None) -> Reading:
    errors = request_counts(window, **_match(route))[1]
    return errors, errors


def _requests(window: Window, route: str | None) -> Reading:
    requests = request_counts(window, **_match(route))[0]
    return requests, requests


def _request_rate(window: Window, route: str | None) -> Reading:
    requests = request_counts(window, **_match(route))[0]
    return (requests / window.seconds if window.seconds else 0.0), requests


def _queries_per_request(window: Window, route: str | None) -> Reading:
    hist = window.histogram(m.QUERIES_PER_REQUEST, **_match(route))
    if hist is None or not hist.count:
        return None, 0
    return hist.sum / hist.count, hist.count


def _cache_hit_rate(window: Window, route: str | None) -> Reading:
    if route is None:
        hits = window.total(m.CACHE_GETS, result="hit")
        misses = window.total(m.CACHE_GETS, result="miss")
    else:
        hits = window.total(m.CACHE_ROUTE_GETS, route=route, result="hit")
        misses = window.total(m.CACHE_ROUTE_GETS, route=route, result="miss")
    reads = hits + misses
    return (hits / reads if reads else None), reads


def _health_score(window: Window, route: str | None) -> Reading:
    from ..dashboard import health_score

    return float(health_score(window)), request_counts(window)[0]


MEASURES: dict[str, Measure] = {
    measure.name: measure
    for measure in (
        Measure("error_rate", "ratio", True, _error_rate, "5xx responses / requests"),
        Measure("request_duration_p50", "seconds", True, _request_quantile(0.5), "median latency"),
        Measure("request_duration_p95", "seconds", True, _request_quantile(0.95), "p95 latency"),
        Measure("request_duration_p99", "seconds", True, _request_quantile(0.99), "p99 latency"),
        Measure("request_rate", "per_second", True, _request_rate, "requests per second"),
        Measure("requests", "count", True, _requests, "requests"),
        Measure("errors_5xx", "count", True, _errors_5xx, "5xx responses"),
        Measure("exceptions", "count", True, _count(m.EXCEPTIONS), "unhandled exceptions"),
        Measure(
            "db_connection_errors",
            "count",
            False,
            _count(m.DB_CONNECTION_ERRORS),
            "failures to obtain a database connection (refused, timeout, pool exhausted)",
        ),
        Measure("db_errors", "count", False, _count(m.DB_ERRORS), "database errors"),
        Measure("query_duration_p50", "seconds", False, _query_quantile(0.5), "median query"),
        Measure("query_duration_p95", "seconds", False, _query_quantile(0.95), "p95 query"),
        Measure("query_duration_p99", "seconds", False, _query_quantile(0.99), "p99 query"),
        Measure("slow_queries", "count", True, _count(m.SLOW_QUERIES), "slow queries"),
        Measure(
            "n_plus_one_requests", "count", True, _count(m.N_PLUS_ONE), "requests with an N+1"
        ),
        Measure(
            "queries_per_request", "number", True, _queries_per_request, "queries per request"
        ),
        Measure("cache_hit_rate", "ratio", True, _cache_hit_rate, "cache hits / cache reads"),
        Measure("health_score", "score", False, _health_score, "health score, 0-100"),
        Measure(
            "p95_vs_baseline",
            "factor",
            True,
            _request_quantile(0.95),
            "p95 latency / the active baseline's",
            Versus("p95", "p95", "seconds", 0.01),
        ),
        Measure(
            "queries_per_request_vs_baseline",
            "factor",
            True,
            _queries_per_request,
            "queries per request / the active baseline's",
            Versus("queries_per_request", "queries per request", "number", 1.0),
        ),
    )
}


def read_measure(
    measure: Measure,
    window: Window,
    route: str | None,
    baseline: RecordedBaseline | None = None,
) -> Reading:
    """The measure's reading; for a measure versus the baseline, the ratio of now to the
    baseline, whose samples are the fewer requests of the two (both must be enough)."""
    value, samples = measure.read(window, route)
    if measure.versus is None:
        return value, samples
    figures = baseline.figures(route) if baseline is not None else None
    if figures is None:
        return None, 0
    before = getattr(figures, measure.versus.figure)
    return measure.versus.ratio(value, before), min(samples, figures.requests)


def routes(window: Window) -> list[str]:
    """Every route that served a request in the window."""
    return sorted({labels["route"] for labels, _ in window.series(m.REQUESTS)})


def format_value(unit: str, value: float | None) -> str:
    """A value as people read it in a notification: "12.5%", "1.84 s", "85 ms", "3"."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "seconds":
        return f"{value:.3g} s" if value >= 1 else f"{value * 1000:.3g} ms"
    if unit == "per_second":
        return f"{value:.3g}/s"
    if unit in ("count", "score"):
        return f"{value:.0f}"
    if unit == "factor":
        return f"{value:.3g}x"
    return f"{value:.3g}"
