"""The ``dashboard/`` document: everything a dashboard shows, from one read of the store.

The time series reads the buckets of the finest tier that covers the window (10 s buckets
for 5 minutes, 1 minute up to 3 hours, 10 minutes up to 6 hours, then 1 hour), one point
each, taking from each only the few numbers a point needs; the summary, the endpoint table
and the health score come from the store's window read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import config
from .recording import metrics as m
from .recording.aggregate import Histogram
from .stores import codec
from .stores.base import BaseStore
from .stores.codec import SEP, Document
from .summary import latency, ratio, request_counts, summarise
from .system import host_usage
from .window import Window

if TYPE_CHECKING:  # baselines reads models: imported when used, not with this module
    from .baselines import RecordedBaseline


def rating(p95_ms: float | None) -> str | None:
    """The rating of a route's p95 latency by ``PERFORMANCE_RATINGS`` (None: no traffic)."""
    if p95_ms is None:
        return None
    for bound, name in config.get_config()["PERFORMANCE_RATINGS"]:
        if p95_ms < bound:
            return str(name)
    return "poor"


def health_score(window: Window) -> int:
    """The site's health, 0 (down) to 100 (healthy), over ``window``.

    100, less:
    - errors: 4 points per percent of requests answered 5xx (at most 40);
    - latency: by the rating of the p95 of all requests: good 5, fair 15, poor 25;
    - database: 15 when any connection could not be obtained, plus up to 10 as the share
      of slow queries grows (1 point per 10% of statements slower than ``SLOW_QUERY_MS``);
    - cache: up to 10 as the hit rate falls below 50% (2 points per 5% under).
    A window without traffic scores 100.
    """
    requests, errors = request_counts(window)
    if not requests:
        return 100
    score = 100.0
    score -= min(40.0, 400.0 * errors / requests)
    p95 = latency(window.histogram(m.REQUEST_DURATION))["p95_ms"]
    score -= {"good": 5, "fair": 15, "poor": 25}.get(rating(p95) or "", 0)
    if window.total(m.DB_CONNECTION_ERRORS):
        score -= 15
    queries = window.histogram(m.FINGERPRINT_DURATION)
    if queries is not None and queries.count:
        score -= min(10.0, 10.0 * window.total(m.SLOW_QUERIES) / queries.count)
    hits, misses = (
        window.total(m.CACHE_GETS, result="hit"),
        window.total(m.CACHE_GETS, result="miss"),
    )
    if hits + misses:
        score -= min(10.0, max(0.0, (0.5 - hits / (hits + misses)) * 40))
    return max(0, min(100, round(score)))


def _point(start: int, doc: Document) -> dict[str, Any]:
    """One time-series point from a bucket document, without decoding the whole bucket."""
    requests = errors = hits = misses = 0.0
    for series, value in (doc.get("c") or {}).items():
        name, *labels = series.split(SEP)
        if name == m.REQUESTS.name:
            requests += value
            if labels[2].startswith("5"):
                errors += value
        elif name == m.CACHE_GETS.name:
            if labels[2] == "hit":
                hits += value
            else:
                misses += value
    durations: dict[str, Any] = {}
    queries = 0
    for series, hist in (doc.get("h") or {}).items():
        name = series.split(SEP, 1)[0]
        if name == m.REQUEST_DURATION.name:
            codec.merge_into(durations, {"h": {"all": hist}})
        elif name == m.FINGERPRINT_DURATION.name:
            queries += hist["c"]
    merged = durations.get("h", {}).get("all")
    timing = latency(None if merged is None else codec.decode_histogram(merged))
    return {
        "start": start,
        "requests": int(requests),
        "errors_5xx": int(errors),
        **timing,
        "queries": int(queries),
        "cache_hit_rate": ratio(hits, hits + misses),
    }


def _endpoints(window: Window) -> list[dict[str, Any]]:
    rows = []
    for route, hist in window.by(m.REQUEST_DURATION, "route").items():
        assert isinstance(hist, Histogram)
        timing = latency(hist)
        rows.append(
            {
                "route": route,
                "requests": hist.count,
                "errors_5xx": int(request_counts(window, route=route)[1]),
                **timing,
                "rating": rating(timing["p95_ms"]),
            }
        )
    per_request = window.by(m.QUERIES_PER_REQUEST, "route")
    cache_reads = _cache_reads_by_route(window)
    for row in rows:
        queries = per_request.get(str(row["route"]))
        row["queries_per_request"] = (
            ratio(queries.sum, queries.count) if isinstance(queries, Histogram) else None
        )
        hits, misses = cache_reads.get(str(row["route"]), (0.0, 0.0))
        row["cache_hit_rate"] = ratio(hits, hits + misses)
    return sorted(rows, key=lambda row: -row["requests"])


def _cache_reads_by_route(window: Window) -> dict[str, tuple[float, float]]:
    """(hits, misses) of the cache reads each route issued in the window."""
    reads: dict[str, tuple[float, float]] = {}
    for labels, count in window.series(m.CACHE_ROUTE_GETS):
        hits, misses = reads.get(labels["route"], (0.0, 0.0))
        if labels["result"] == "hit":
            hits += count
        else:
            misses += count
        reads[labels["route"]] = (hits, misses)
    return reads


def _hosts(window: Window) -> dict[str, dict[str, float]]:
    """The background service's samples of each host: the highest of the window."""
    hosts: dict[str, dict[str, float]] = {}
    for labels, value in window.series(m.SYSTEM):
        hosts.setdefault(labels["host"], {})[labels["resource"]] = round(float(value), 3)
    return hosts


def baseline_section(window: Window, baseline: RecordedBaseline | None) -> dict[str, Any] | None:
    """The active baseline and each route's change against it (None without a baseline).

    Routes with fewer requests than ``min_requests`` on either side are listed as "too few
    requests"; the minimum scales with the window (5 for 5 minutes, 50 from an hour on),
    so that a short window still compares busy routes.
    """
    if baseline is None:
        return None
    from .baselines import DEFAULT_MIN_REQUESTS, baseline_deltas

    least = min(DEFAULT_MIN_REQUESTS, max(5.0, window.seconds / 60))
    routes = {
        route: {
            "verdict": delta["verdict"],
            "p95_ratio": _round(delta["ratios"].get("p95")),
            "queries_per_request_ratio": _round(delta["ratios"].get("queries_per_request")),
            "baseline_p95_ms": _ms(delta["baseline"], "p95"),
            "baseline_queries_per_request": _round(
                (delta["baseline"] or {}).get("queries_per_request")
            ),
        }
        for route, delta in baseline_deltas(window, baseline, min_requests=least).items()
    }
    return {
        "name": baseline.name,
        "recorded_at": baseline.recorded_at,
        "window_seconds": baseline.window_seconds,
        "min_requests": least,
        "routes": routes,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _ms(figures: dict[str, Any] | None, name: str) -> float | None:
    value = (figures or {}).get(name)
    return None if value is None else round(float(value) * 1000, 3)


def dashboard(
    store: BaseStore,
    seconds: float,
    active_alerts: list[dict[str, Any]],
    now: float | None = None,
    baseline: RecordedBaseline | None = None,
) -> dict[str, Any]:
    """The dashboard document of the last ``seconds`` (before ``now``, default the store's
    clock)."""
    now = store.clock() if now is None else now
    tier = store.tier_for(seconds)
    found = store.read_documents(tier.seconds, now - seconds, now)
    # The totals come from the window read (widest buckets, settled ones not parsed again);
    # the series from the buckets of its step.
    window = store.read_window(seconds, now=now)
    summary = summarise(window)
    summary.pop("routes")
    return {
        "window": summary.pop("window"),
        "summary": summary,
        "series": {"step_seconds": tier.seconds, "points": [_point(s, d) for s, d in found]},
        "endpoints": _endpoints(window),
        "system": {
            **host_usage(config.get_config()["HEALTH_DISK_PATH"] or "/"),
            "hosts": _hosts(window),
        },
        "health_score": health_score(window),
        "alerts": active_alerts,
        "baseline": baseline_section(window, baseline),
    }
