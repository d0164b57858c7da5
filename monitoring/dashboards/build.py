"""Generate ``grafana_django_orm.json``, the Grafana dashboard shipped with the app.

The JSON file is the artifact users import (or export with ``manage.py
export_grafana_dashboard``); this module is its source. After changing a panel, run::

    python -m monitoring.dashboards.build

A test checks that the committed file equals :func:`render`'s output, and another runs
every panel's query against a real Prometheus scraping the example site.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import DASHBOARD_FILE
from . import queries as q
from .panels import DATASOURCE, Json, percentiles, slow_query_table, stat, target, thresholds
from .panels import timeseries as series

UID = "django-orm-monitoring"
SCHEMA_VERSION = 39  # Grafana 10.4 and 11
GRAFANA_VERSION = "10.4.0"
# Grafana's built-in annotation (alerts and manual notes), present in every export.
ANNOTATIONS: Json = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}
HEALTH = thresholds(("red", None), ("orange", 50), ("green", 80))
ERRORS = thresholds(("green", None), ("orange", 0.01), ("red", 0.05))  # alert: 5%
HITS = thresholds(("red", None), ("orange", 0.5), ("green", 0.8))  # alert: below 50%
FIRING = thresholds(("green", None), ("red", 1))
NONE = thresholds(("green", None))


def _stats() -> list[Json]:
    return [
        stat("Health score", "The fleet's health over the last 5 minutes, 0-100.",
             (0, 0, 4, 4), "none", HEALTH, [target("A", q.HEALTH_SCORE, "score")]),
        stat("Requests", "Requests per second, every selected route.",
             (4, 0, 5, 4), "reqps", NONE, [target("A", q.REQUEST_RATE, "requests")]),
        stat("Error rate", "Share of responses with a 5xx status.",
             (9, 0, 5, 4), "percentunit", ERRORS, [target("A", q.ERROR_SHARE, "5xx")]),
        stat("Cache hit rate", "Cache reads that found their key, every cache and prefix.",
             (14, 0, 5, 4), "percentunit", HITS, [target("A", q.CACHE_HIT_RATE, "hit rate")]),
        stat("Firing alerts", "Alerts firing now, by severity.",
             (19, 0, 5, 4), "none", FIRING, [target("A", q.ALERTS_FIRING, "{{severity}}")]),
    ]  # fmt: skip


def _graphs() -> list[Json]:
    by_prefix = target("B", q.CACHE_HIT_RATE_BY_PREFIX, "{{prefix}}")
    return [
        series("Response time", "p50, p95 and p99 of the time to produce a response.",
               (0, 4, 12, 8), "s", percentiles(q.request_quantile)),
        series("Requests by route", "Requests per second by URL pattern.",
               (12, 4, 12, 8), "reqps", [target("A", q.REQUEST_RATE_BY_ROUTE, "{{route}}")]),
        series("Error rate (5xx share)", "Share of responses with a 5xx status.",
               (0, 12, 12, 8), "percentunit", [target("A", q.ERROR_SHARE, "5xx share")]),
        series("Queries per request", "Mean database statements per request, by route.",
               (12, 12, 12, 8), "short", [target("A", q.QUERIES_PER_REQUEST, "{{route}}")]),
        series("Database query duration", "p50, p95 and p99 of every statement's duration.",
               (0, 20, 12, 8), "s", percentiles(q.query_quantile)),
        series("Cache hit rate", "Cache reads that found their key: overall and by key prefix.",
               (12, 20, 12, 8), "percentunit",
               [target("A", q.CACHE_HIT_RATE, "overall"), by_prefix]),
    ]  # fmt: skip


def panels() -> list[Json]:
    """Every panel, numbered, laid out on Grafana's 24-column grid."""
    found = [*_stats(), *_graphs(), slow_query_table((0, 28, 24, 10))]
    for number, item in enumerate(found, start=1):
        item["id"] = number
    return found


def _variable(name: str, label: str, query: str) -> Json:
    return {
        "allValue": ".*",
        "current": {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,  # on time range change: new hosts and routes appear
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def templating() -> Json:
    """The datasource, instance and route variables."""
    datasource = {
        # Grafana's import replaces ${DS_PROMETHEUS} with the datasource chosen for it.
        "current": {"selected": False, "text": "Prometheus", "value": "${DS_PROMETHEUS}"},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }
    return {
        "list": [
            datasource,
            _variable("instance", "Instance", q.INSTANCES),
            _variable("route", "Route", q.ROUTES),
        ]
    }


def _requires() -> list[Json]:
    kinds = (("stat", "Stat"), ("table", "Table"), ("timeseries", "Time series"))
    return [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *({"type": "panel", "id": kind, "name": name, "version": ""} for kind, name in kinds),
    ]


def dashboard() -> Json:
    """The whole dashboard, in the shape Grafana's "Export for sharing externally" gives."""
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes monitoring/metrics/",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__elements": {},
        "__requires": _requires(),
        "annotations": {"list": [ANNOTATIONS]},
        "description": "Latency, errors, ORM query cost and cache effectiveness of a Django "
        "site monitored by django-orm-monitoring (the monitoring app).",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels(),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["django", "prometheus", "django-orm-monitoring"],
        "templating": templating(),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "Django ORM monitoring",
        "uid": UID,
        "version": 1,
        "weekStart": "",
    }


def render() -> str:
    """The dashboard as the JSON text that is committed."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the dashboard next to this module (``python -m monitoring.dashboards.build``)."""
    path = Path(__file__).with_name(DASHBOARD_FILE)
    path.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {path}\n")


if __name__ == "__main__":
    main()
