"""Baselines: the site's performance recorded once, and the present compared with it.

``manage.py record_baseline NAME`` keeps, for the whole site and each route, the figures
of a window (:class:`Figures`); ``compare_baseline``, the ``performance_regression`` rule,
the report and the dashboard compare a window with them. The comparison itself is pure
(:func:`compare`, :func:`baseline_deltas`); reading and writing the ``Baseline`` rows
happens at the bottom of this module.

The active baseline, the one the rule compares with, is ``ACTIVE_BASELINE`` when it is
set, else the most recently recorded one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from django.db import DatabaseError, router, transaction

from . import config
from .alerts.measures import MEASURES, Versus, format_value
from .models import Baseline, BaselineRoute
from .recording import metrics as m
from .recording.aggregate import Histogram
from .summary import request_counts
from .window import Window

logger = logging.getLogger("monitoring.baselines")

# What a route is judged on: the figures of the measures versus the baseline.
JUDGED: tuple[Versus, ...] = tuple(
    measure.versus for measure in MEASURES.values() if measure.versus is not None
)
DEFAULT_THRESHOLD = 1.25
DEFAULT_MIN_REQUESTS = 50
REGRESSED, OK, TOO_FEW = "regressed", "ok", "too few requests"


@dataclass(frozen=True)
class Figures:
    """The figures of the whole site or one route over a window (durations in seconds;
    None where there was nothing to measure, such as a hit rate without cache reads)."""

    requests: float
    request_rate: float
    error_rate: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    queries_per_request: float | None
    cache_hit_rate: float | None


FIGURES = tuple(field.name for field in fields(Figures))


@dataclass(frozen=True)
class RecordedBaseline:
    """A baseline as data: its name, window, end (epoch seconds) and figures."""

    name: str
    window_seconds: int
    recorded_at: float
    totals: Figures
    routes: Mapping[str, Figures]

    def figures(self, route: str | None) -> Figures | None:
        """The whole site's figures (route None or ""), or the route's (None if unknown)."""
        return self.totals if not route else self.routes.get(route)


def _figures(seconds: float, counts: Sequence[float], durations: Any, per_request: Any) -> Figures:
    """Figures from ``counts`` (requests, 5xx responses, cache hits, cache misses) and the
    duration and queries-per-request histograms."""
    requests, errors, hits, misses = counts
    p50 = p95 = p99 = None
    if isinstance(durations, Histogram) and durations.count:
        p50, p95, p99 = durations.quantiles(0.5, 0.95, 0.99)
    queries = isinstance(per_request, Histogram) and per_request.count
    return Figures(
        requests=requests,
        request_rate=requests / seconds if seconds else 0.0,
        error_rate=errors / requests if requests else None,
        p50=p50,
        p95=p95,
        p99=p99,
        queries_per_request=per_request.sum / per_request.count if queries else None,
        cache_hit_rate=hits / (hits + misses) if hits + misses else None,
    )


def measure_window(window: Window) -> tuple[Figures, dict[str, Figures]]:
    """The window's figures: the whole site's, and each route's that served requests."""
    counts: dict[str, list[float]] = defaultdict(lambda: [0.0] * 4)  # as _figures takes them
    for labels, value in window.series(m.REQUESTS):
        counts[labels["route"]][0] += value
        counts[labels["route"]][1] += value if labels["status"].startswith("5") else 0
    for labels, value in window.series(m.CACHE_ROUTE_GETS):
        if labels["route"] in counts:
            counts[labels["route"]][2 if labels["result"] == "hit" else 3] += value
    durations = window.by(m.REQUEST_DURATION, "route")
    per_request = window.by(m.QUERIES_PER_REQUEST, "route")
    routes = {
        route: _figures(window.seconds, route_counts, durations.get(route), per_request.get(route))
        for route, route_counts in sorted(counts.items())
    }
    cache = (window.total(m.CACHE_GETS, result=result) for result in ("hit", "miss"))
    site = window.histogram(m.REQUEST_DURATION), window.histogram(m.QUERIES_PER_REQUEST)
    return _figures(window.seconds, [*request_counts(window), *cache], *site), routes


@dataclass(frozen=True)
class RouteChange:
    """One route now against the baseline: the figures of both, each judged figure's
    ratio (now / baseline) and the verdict: regressed, ok or too few requests."""

    route: str
    before: Figures | None
    after: Figures | None
    ratios: dict[str, float | None]
    verdict: str

    @property
    def worst(self) -> float | None:
        """The largest ratio of the judged figures (None when none can be compared)."""
        known = [ratio for ratio in self.ratios.values() if ratio is not None]
        return max(known) if known else None


def _change(
    route: str, before: Figures | None, after: Figures | None, threshold: float, least: float
) -> RouteChange:
    ratios = {
        versus.figure: versus.ratio(
            getattr(after, versus.figure, None), getattr(before, versus.figure, None)
        )
        for versus in JUDGED
    }
    if min(before.requests if before else 0, after.requests if after else 0) < least:
        verdict = TOO_FEW
    elif any(ratio is not None and ratio > threshold for ratio in ratios.values()):
        verdict = REGRESSED
    else:
        verdict = OK
    return RouteChange(route, before, after, ratios, verdict)


def compare(
    baseline: RecordedBaseline,
    window: Window,
    threshold: float = DEFAULT_THRESHOLD,
    min_requests: float = DEFAULT_MIN_REQUESTS,
) -> list[RouteChange]:
    """Every route of the baseline or the window, worst first: regressed routes, then the
    others by their worst ratio, then those with fewer than ``min_requests`` on either
    side (listed, not judged)."""
    after = measure_window(window)[1]
    changes = [
        _change(route, baseline.routes.get(route), after.get(route), threshold, min_requests)
        for route in sorted(set(baseline.routes) | set(after))
    ]
    order = {REGRESSED: 0, OK: 1, TOO_FEW: 2}
    return sorted(changes, key=lambda c: (order[c.verdict], -(c.worst or 0), c.route))


def baseline_deltas(
    window: Window,
    baseline: RecordedBaseline,
    threshold: float = DEFAULT_THRESHOLD,
    min_requests: float = DEFAULT_MIN_REQUESTS,
) -> dict[str, dict[str, Any]]:
    """Each route now against the baseline, as JSON for the dashboard::

        {"/search/": {"verdict": "regressed", "worst": 2.4,
                      "ratios": {"p95": 2.4, "queries_per_request": 1.0},
                      "baseline": {"requests": 4800, "p95": 0.08, ...},
                      "now": {"requests": 310, "p95": 0.19, ...}}}

    ``baseline`` or ``now`` is None for a route seen on one side only.
    """
    return {
        change.route: {
            "verdict": change.verdict,
            "worst": change.worst,
            "ratios": change.ratios,
            "baseline": asdict(change.before) if change.before else None,
            "now": asdict(change.after) if change.after else None,
        }
        for change in compare(baseline, window, threshold, min_requests)
    }


def description_fields(
    versus: Versus, route: str, value: float | None, baseline: RecordedBaseline | None
) -> dict[str, str]:
    """The description fields of an alert versus the baseline: the figure's name, its value
    now and in the baseline, and the baseline's name."""
    figures = baseline.figures(route) if baseline is not None else None
    before = getattr(figures, versus.figure) if figures is not None else None
    now = None if value is None or before is None else value * max(before, versus.floor)
    reference = format_value(versus.unit, before)
    if before is not None and before < versus.floor:
        reference += f", counted as {format_value(versus.unit, versus.floor)}"
    return {
        "figure": versus.label,
        "current": format_value(versus.unit, now),
        "baseline": baseline.name if baseline is not None else "(none)",
        "baseline_value": reference,
    }


# The Baseline rows.


class BaselineExists(Exception):
    """A baseline of that name is already recorded (and replacing it was not asked for)."""


def _values(figures: Figures) -> dict[str, Any]:
    return {**asdict(figures), "requests": round(figures.requests)}


def record_baseline(
    name: str,
    window: Window,
    seconds: int | None = None,
    replace: bool = False,
    using: str | None = None,
) -> Baseline:
    """Store the window's figures as the baseline ``name`` (of the window ``seconds`` long
    that was asked for); replace one of that name only when ``replace``, else raise
    :class:`BaselineExists`."""
    from .alerts.service import to_datetime

    totals, routes = measure_window(window)
    db = using or router.db_for_write(Baseline)
    with transaction.atomic(using=db):
        existing = Baseline.objects.using(db).filter(name=name)
        if existing.exists() and not replace:
            raise BaselineExists(name)
        existing.delete()
        row = Baseline.objects.using(db).create(
            name=name,
            window_seconds=seconds or round(window.seconds),
            recorded_at=to_datetime(window.end),
            **_values(totals),
        )
        BaselineRoute.objects.using(db).bulk_create(
            BaselineRoute(baseline=row, route=route, **_values(figures))
            for route, figures in routes.items()
        )
    return row


def _data(row: Baseline | BaselineRoute) -> Figures:
    return Figures(**{name: getattr(row, name) for name in FIGURES})


def _recorded(row: Baseline) -> RecordedBaseline:
    when: datetime = row.recorded_at
    return RecordedBaseline(
        row.name,
        row.window_seconds,
        when.timestamp(),
        _data(row),
        {route.route: _data(route) for route in row.routes.all()},
    )


def load_baseline(name: str, using: str | None = None) -> RecordedBaseline | None:
    """The baseline ``name`` as data, or None when there is none of that name."""
    db = using or router.db_for_read(Baseline)
    row = Baseline.objects.using(db).filter(name=name).prefetch_related("routes").first()
    return None if row is None else _recorded(row)


def baseline_names(using: str | None = None) -> list[str]:
    """The names of the recorded baselines, the latest first."""
    db = using or router.db_for_read(Baseline)
    return list(Baseline.objects.using(db).values_list("name", flat=True))


def active_name(using: str | None = None) -> str | None:
    """The active baseline's name: ``ACTIVE_BASELINE``, else the latest recorded's."""
    pinned: str | None = config.get_config()["ACTIVE_BASELINE"]
    if pinned is not None:
        return pinned
    db = using or router.db_for_read(Baseline)
    return Baseline.objects.using(db).values_list("name", flat=True).first()


def active_baseline(using: str | None = None) -> RecordedBaseline | None:
    """The baseline the rule compares with (None when there is none; when
    ``ACTIVE_BASELINE`` names none, that is logged)."""
    name = active_name(using)
    found = None if name is None else load_baseline(name, using)
    if found is None and name is not None:
        logger.warning("ACTIVE_BASELINE is %r, but no baseline has that name", name)
    return found


def baseline_for(metrics: Iterable[str], using: str | None = None) -> RecordedBaseline | None:
    """The active baseline if one of ``metrics`` compares with it (else it is not read).

    One that cannot be read (its table missing before ``migrate``) is logged and taken as
    none: the rules on other metrics must still run.
    """
    if not any(MEASURES[metric].versus for metric in metrics):
        return None
    try:
        return active_baseline(using)
    except DatabaseError:
        logger.exception("The active baseline cannot be read; rules versus it are skipped")
        return None
