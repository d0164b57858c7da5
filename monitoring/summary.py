"""The JSON summary of a window: requests, errors, latency, queries and cache, per route."""

from __future__ import annotations

from typing import Any

from .recording import metrics as m
from .recording.aggregate import Histogram
from .window import Window


def latency(hist: Histogram | None) -> dict[str, float | None]:
    values = hist.quantiles(0.5, 0.95, 0.99) if hist is not None else [None, None, None]
    return {
        f"{name}_ms": None if value is None else round(value * 1000, 3)
        for name, value in zip(("p50", "p95", "p99"), values, strict=True)
    }


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def window_info(window: Window) -> dict[str, Any]:
    return {"start": window.start, "end": window.end, "seconds": round(window.seconds)}


def request_counts(window: Window, **match: str) -> tuple[float, float]:
    """(requests, 5xx responses) in the window, of the series matching ``match``."""
    total = errors = 0.0
    for labels, value in window.series(m.REQUESTS, **match):
        total += value
        if labels["status"].startswith("5"):
            errors += value
    return total, errors


def summarise(window: Window) -> dict[str, Any]:
    """Return the summary document of ``window``."""
    requests, errors = request_counts(window)
    queries = window.histogram(m.FINGERPRINT_DURATION)
    per_request = window.histogram(m.QUERIES_PER_REQUEST)
    hits = window.total(m.CACHE_GETS, result="hit")
    misses = window.total(m.CACHE_GETS, result="miss")
    return {
        "window": window_info(window),
        "requests": {
            "total": int(requests),
            "per_second": round(requests / window.seconds, 4) if window.seconds else 0.0,
            "errors_5xx": int(errors),
            "error_rate": ratio(errors, requests),
            "exceptions": int(window.total(m.EXCEPTIONS)),
            **latency(window.histogram(m.REQUEST_DURATION)),
        },
        "database": {
            "queries": queries.count if queries else 0,
            "queries_per_request": (
                ratio(per_request.sum, per_request.count) if per_request else None
            ),
            "errors": int(window.total(m.DB_ERRORS)),
            "connection_errors": int(window.total(m.DB_CONNECTION_ERRORS)),
            "slow_queries": int(window.total(m.SLOW_QUERIES)),
            **latency(queries),
        },
        "cache": {
            "hits": int(hits),
            "misses": int(misses),
            "hit_rate": ratio(hits, hits + misses),
        },
        "routes": _routes(window),
    }


def _routes(window: Window) -> list[dict[str, Any]]:
    durations = window.by(m.REQUEST_DURATION, "route")
    per_request = window.by(m.QUERIES_PER_REQUEST, "route")
    rows = []
    for route, hist in sorted(durations.items()):
        assert isinstance(hist, Histogram)
        queries = per_request.get(route)
        rows.append(
            {
                "route": route,
                "requests": hist.count,
                "errors_5xx": int(request_counts(window, route=route)[1]),
                "queries_per_request": (
                    ratio(queries.sum, queries.count) if isinstance(queries, Histogram) else None
                ),
                **latency(hist),
            }
        )
    return sorted(rows, key=lambda row: -row["requests"])
