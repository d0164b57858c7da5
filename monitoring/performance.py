"""The documents of ``performance/queries/`` and ``performance/cache/``, from one window."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .recording import metrics as m
from .recording.aggregate import Histogram
from .summary import latency, ratio, window_info
from .window import Window

QUERY_SORTS = {
    "total": lambda row: -row["total_ms"],
    "count": lambda row: -row["count"],
    "p95": lambda row: -(row["p95_ms"] or 0),
    "mean": lambda row: -(row["mean_ms"] or 0),
}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def queries_report(window: Window, limit: int = 50, sort: str = "total") -> dict[str, Any]:
    """Statements by fingerprint (no literal values anywhere), slow queries, N+1 suspects
    and queries per request by route."""
    routes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for labels, count in window.series(m.FINGERPRINT_ROUTES):
        routes[labels["fingerprint"]].append({"route": labels["route"], "count": int(count)})
    rows = []
    for labels, hist in window.series(m.FINGERPRINT_DURATION):
        assert isinstance(hist, Histogram)
        fingerprint = labels["fingerprint"]
        rows.append(
            {
                "fingerprint": fingerprint,
                "sql": window.statement(fingerprint),
                "alias": labels["alias"],
                "operation": labels["operation"],
                "count": hist.count,
                "total_ms": _ms(hist.sum),
                "mean_ms": _ms(hist.sum / hist.count) if hist.count else None,
                **latency(hist),
                "routes": sorted(routes.get(fingerprint, []), key=lambda r: -r["count"])[:10],
            }
        )
    rows.sort(key=QUERY_SORTS[sort])
    slow = sorted(window.data.slow_queries, key=lambda q: -q.duration)[:limit]
    worst = {
        (labels["route"], labels["fingerprint"]): value
        for labels, value in window.series(m.N_PLUS_ONE_MAX)
    }
    suspects: list[dict[str, Any]] = [
        {
            "route": labels["route"],
            "fingerprint": labels["fingerprint"],
            "sql": window.statement(labels["fingerprint"]),
            "requests": int(count),
            "max_repetitions": int(worst.get((labels["route"], labels["fingerprint"]), 0)),
        }
        for labels, count in window.series(m.N_PLUS_ONE)
    ]
    suspects.sort(key=lambda row: (-row["requests"], row["route"]))
    per_route: list[dict[str, Any]] = []
    for route, hist in window.by(m.QUERIES_PER_REQUEST, "route").items():
        assert isinstance(hist, Histogram)
        p50, p95 = hist.quantiles(0.5, 0.95)
        per_route.append(
            {
                "route": route,
                "requests": hist.count,
                "mean": ratio(hist.sum, hist.count),
                "p50": None if p50 is None else round(p50, 1),
                "p95": None if p95 is None else round(p95, 1),
            }
        )
    per_route.sort(key=lambda row: -(row["mean"] or 0))
    return {
        "window": window_info(window),
        "queries": rows[:limit],
        "fingerprints": len(rows),
        "slow_queries": [
            {
                "fingerprint": q.fingerprint,
                "sql": window.statement(q.fingerprint),
                "alias": q.alias,
                "route": q.route,
                "duration_ms": _ms(q.duration),
                "at": q.timestamp,
            }
            for q in slow
        ],
        "n_plus_one": suspects[:limit],
        "queries_per_request": per_route[:limit],
    }


def _hit_rate(hits: float, misses: float) -> dict[str, Any]:
    return {"hits": int(hits), "misses": int(misses), "hit_rate": ratio(hits, hits + misses)}


def _counts(entry: dict[str, float] | None) -> tuple[float, float]:
    return (entry["hit"], entry["miss"]) if entry else (0.0, 0.0)


def cache_report(window: Window, limit: int = 50) -> dict[str, Any]:
    """Hit rates overall, per cache alias, per key prefix and per route, and operation
    counts and times per cache alias."""
    gets: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"hit": 0.0, "miss": 0.0})
    for labels, count in window.series(m.CACHE_GETS):
        gets[labels["cache"], labels["prefix"]][labels["result"]] += count
    caches: dict[str, dict[str, Any]] = {}
    for (cache, _), counts in gets.items():
        entry = caches.setdefault(cache, {"hit": 0.0, "miss": 0.0})
        entry["hit"] += counts["hit"]
        entry["miss"] += counts["miss"]
    operations: dict[str, dict[str, Any]] = defaultdict(dict)
    for labels, hist in window.series(m.CACHE_OPERATION_DURATION):
        assert isinstance(hist, Histogram)
        operations[labels["cache"]][labels["operation"]] = {"count": hist.count, **latency(hist)}
    aliases = sorted(set(caches) | set(operations))
    hits = sum(c["hit"] for c in caches.values())
    misses = sum(c["miss"] for c in caches.values())
    route_counts: dict[str, dict[str, float]] = defaultdict(lambda: {"hit": 0.0, "miss": 0.0})
    for labels, count in window.series(m.CACHE_ROUTE_GETS):
        route_counts[labels["route"]][labels["result"]] += count
    prefixes = [
        {"cache": cache, "prefix": prefix, **_hit_rate(c["hit"], c["miss"])}
        for (cache, prefix), c in gets.items()
    ]
    prefixes.sort(key=lambda row: -(row["hits"] + row["misses"]))
    by_route = [
        {"route": route, **_hit_rate(c["hit"], c["miss"])} for route, c in route_counts.items()
    ]
    by_route.sort(key=lambda row: -(row["hits"] + row["misses"]))
    return {
        "window": window_info(window),
        "overall": _hit_rate(hits, misses),
        "caches": [
            {
                "cache": alias,
                **_hit_rate(
                    caches.get(alias, {}).get("hit", 0), caches.get(alias, {}).get("miss", 0)
                ),
                "operations": dict(sorted(operations.get(alias, {}).items())),
            }
            for alias in aliases
        ],
        "prefixes": prefixes[:limit],
        "routes": by_route[:limit],
    }
