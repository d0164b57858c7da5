"""Grafana panel JSON: queries on the dashboard's datasource variable, and the panel kinds.

Each function returns the plain dict Grafana stores (schema version 39); ``build.py``
places them on the grid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import queries as q

Json = dict[str, Any]
Grid = tuple[int, int, int, int]  # x, y, width, height on Grafana's 24-column grid

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
PERCENTILES = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))


def target(ref: str, expr: str, legend: str = "__auto", **extra: Any) -> Json:
    """One Prometheus query of a panel, on the dashboard's datasource variable."""
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "refId": ref,
        **extra,
    }


def percentiles(expr: Callable[[float], str]) -> list[Json]:
    """p50, p95 and p99 of a histogram (``expr(q)``), one query each."""
    return [target("ABC"[i], expr(p), name) for i, (p, name) in enumerate(PERCENTILES)]


def thresholds(*steps: tuple[str, float | None]) -> Json:
    """Colour steps: (colour, lower bound), the first bound None."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def panel(kind: str, title: str, description: str, grid: Grid, targets: list[Json]) -> Json:
    """A panel of ``kind`` at ``grid``; the caller fills in field defaults and options."""
    x, y, w, h = grid
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "options": {},
        "targets": targets,
        "title": title,
        "type": kind,
    }


def timeseries(title: str, description: str, grid: Grid, unit: str, targets: list[Json]) -> Json:
    """A time-series panel with a legend table of each series' mean and last value."""
    result = panel("timeseries", title, description, grid, targets)
    result["fieldConfig"]["defaults"] = {
        "color": {"mode": "palette-classic"},
        "custom": {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never"},
        "min": 0,
        "thresholds": thresholds(("green", None)),
        "unit": unit,
    }
    result["options"] = {
        "legend": {
            "calcs": ["mean", "lastNotNull"],
            "displayMode": "table",
            "placement": "bottom",
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return result


def stat(
    title: str, description: str, grid: Grid, unit: str, colours: Json, targets: list[Json]
) -> Json:
    """A single-value panel (one value per series) coloured by ``colours``, with a sparkline."""
    result = panel("stat", title, description, grid, targets)
    result["fieldConfig"]["defaults"] = {
        "color": {"mode": "thresholds"},
        "thresholds": colours,
        "unit": unit,
    }
    result["options"] = {
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    return result


# The slow-query table's columns, in order: (field of the merged queries, header).
COLUMNS = (
    ("statement", "Statement"),
    ("operation", "Operation"),
    ("Value #A", "Total time"),
    ("Value #B", "Executions"),
    ("Value #C", "Mean time"),
    ("fingerprint", "Fingerprint"),
)


def _table_overrides() -> list[Json]:
    seconds = [{"id": "unit", "value": "s"}, {"id": "decimals", "value": 3}]
    return [
        *(
            {"matcher": {"id": "byName", "options": name}, "properties": seconds}
            for name in ("Total time", "Mean time")
        ),
        {
            "matcher": {"id": "byName", "options": "Statement"},
            "properties": [{"id": "custom.width", "value": 700}],
        },
    ]


def _table_columns() -> list[Json]:
    """Merge the three instant queries into one row per statement, then name the columns."""
    organize = {
        "excludeByName": {"Time": True},
        "indexByName": {field: i for i, (field, _) in enumerate(COLUMNS)},
        "renameByName": dict(COLUMNS),
    }
    return [{"id": "merge", "options": {}}, {"id": "organize", "options": organize}]


def slow_query_table(grid: Grid) -> Json:
    """The statements that took the most time in the dashboard's range."""
    queries = (("A", q.SLOW_TOTAL_SECONDS), ("B", q.SLOW_QUERIES), ("C", q.SLOW_MEAN_SECONDS))
    result = panel(
        "table",
        "Slowest statements (total time in range)",
        "Normalised SQL (no literal values) of the statements that took the most time in "
        "the selected range, with executions and mean time. Only the top "
        "PROMETHEUS_TOP_FINGERPRINTS statements of each host have series of their own.",
        grid,
        [target(ref, expr, format="table", instant=True, range=False) for ref, expr in queries],
    )
    result["fieldConfig"] = {
        "defaults": {"custom": {"align": "auto", "inspect": True}},
        "overrides": _table_overrides(),
    }
    result["options"] = {
        "cellHeight": "sm",
        "showHeader": True,
        "sortBy": [{"desc": True, "displayName": "Total time"}],
    }
    result["transformations"] = _table_columns()
    return result
