"""Alert rules -> Prometheus alerting rules that fire when the built-in engine would.

For sites that alert with Prometheus and Alertmanager instead of ``run_monitoring``:
:func:`prometheus_rules` turns rules (:func:`~monitoring.alerts.rules.load_rules`) into a
rules file, which ``manage.py export_prometheus_rules`` writes as YAML. Each rule keeps its
threshold, window, ``for``, severity and ``min_samples``, reads the series summed over
``instance`` (the fleet, like the engine's windows) and, when it groups by route, gives one
alert per route. For example ``database_connection_errors`` becomes::

    sum(increase(django_db_connection_errors_total[5m])) > 0
      and sum(increase(django_db_connection_errors_total[5m])) >= 1

Percentiles come from the exported histogram buckets, not from the engine's sketches:
``histogram_quantile()`` is exact about the side of a bucket bound a percentile lies on but
interpolates inside a bucket, so a threshold should be a bound (see :func:`bucket_warning`).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..recording import metrics as m
from .measures import MEASURES, format_value
from .rules import OPERATORS, Rule

GROUP_NAME = "django-monitoring"
# monitoring_health_score is the fleet's score over the last 5 minutes (views.metrics).
HEALTH_SCORE, HEALTH_WINDOW = "monitoring_health_score", 300


class Unexportable(ValueError):
    """A rule Prometheus cannot evaluate from the exported series, and why."""

    def __init__(self, rule: Rule, reason: str) -> None:
        super().__init__(f"alert rule {rule.name!r} is not exported to Prometheus: {reason}")
        self.rule = rule
        self.reason = reason


def _name(metric: m.Metric) -> str:
    assert metric.prometheus is not None, metric
    return metric.prometheus


@dataclass(frozen=True)
class _Scope:
    """How one rule reads series: over its window, on its route, summed per route or not."""

    rule: Rule

    @property
    def routed(self) -> bool:
        return self.rule.group_by_route or self.rule.route is not None

    def selector(self, series: str, *matchers: str) -> str:
        route = () if self.rule.route is None else (f"route={_string(self.rule.route)}",)
        labels = ", ".join((*route, *matchers))
        window = f"[{_duration(self.rule.window)}]"
        return f"{series}{{{labels}}}{window}" if labels else f"{series}{window}"

    def sum(self, inner: str, *by: str) -> str:
        labels = ", ".join((*by, *(("route",) if self.routed else ())))
        return f"sum by ({labels}) ({inner})" if labels else f"sum({inner})"

    def increase(self, series: str, *matchers: str) -> str:
        return self.sum(f"increase({self.selector(series, *matchers)})")

    def rate(self, series: str, *matchers: str) -> str:
        return self.sum(f"rate({self.selector(series, *matchers)})")


# What the engine reads off a window without samples: ZERO for counts and rates (a value,
# which may breach), NONE for ratios, percentiles and means (never a breach), SCORE for the
# health score (100).
Empty = Literal["zero", "none", "score"]


@dataclass(frozen=True)
class _Query:
    """A measure in PromQL: its value, its sample size, and what no samples reads as."""

    value: str
    samples: str
    empty: Empty


Builder = Callable[[_Scope], _Query]


def _count(metric: m.Metric, *matchers: str) -> Builder:
    def build(scope: _Scope) -> _Query:
        extra = matchers
        if metric is m.SLOW_QUERIES and scope.rule.group_by_route:
            # The engine groups by the routes that served requests; "<no-request>" is none.
            extra = (*extra, f"route!={_string(m.NO_REQUEST_ROUTE)}")
        total = scope.increase(_name(metric), *extra)
        return _Query(total, total, "zero")

    return build


def _request_rate(scope: _Scope) -> _Query:
    requests = _name(m.REQUESTS)
    return _Query(scope.rate(requests), scope.increase(requests), "zero")


def _ratio(metric: m.Metric, part_matcher: str) -> Builder:
    def build(scope: _Scope) -> _Query:
        whole = scope.increase(_name(metric))
        part = scope.increase(_name(metric), part_matcher)
        if OPERATORS[scope.rule.operator](0.0, scope.rule.threshold):
            # A part with no series yet (not one hit) is a ratio of 0, which breaches here.
            part = f"({part} or 0 * {whole})"
        return _Query(f"{part} / {whole}", whole, "none")

    return build


def _quantile(metric: m.Metric, q: float) -> Builder:
    def build(scope: _Scope) -> _Query:
        buckets = scope.sum(f"rate({scope.selector(_name(metric) + '_bucket')})", "le")
        count = scope.increase(_name(metric) + "_count")
        return _Query(f"histogram_quantile({q}, {buckets})", count, "none")

    return build


def _mean(metric: m.Metric) -> Builder:
    def build(scope: _Scope) -> _Query:
        name = _name(metric)
        mean = f"{scope.rate(name + '_sum')} / {scope.rate(name + '_count')}"
        return _Query(mean, scope.increase(name + "_count"), "none")

    return build


def _health_score(scope: _Scope) -> _Query:
    if scope.rule.window != HEALTH_WINDOW:
        window = _duration(scope.rule.window)
        why = f"{HEALTH_SCORE} is the score over the last 5m, not over {window}"
        raise Unexportable(scope.rule, why)
    # Every instance reports the fleet's score from a shared store: min() is that score,
    # and the worst instance's when each keeps its own (memory://).
    return _Query(f"min({HEALTH_SCORE})", scope.increase(_name(m.REQUESTS)), "score")


def _baseline(scope: _Scope) -> _Query:
    raise Unexportable(scope.rule, "compares with a baseline recorded in the database")


_5XX = 'status=~"5.*"'  # as the engine: a status starting with 5
# The histograms percentile rules read, by the prefix of the metric name.
PERCENTILES = {"request_duration": m.REQUEST_DURATION, "query_duration": m.QUERY_DURATION}
QUERIES: dict[str, Builder] = {
    "error_rate": _ratio(m.REQUESTS, _5XX),
    **{
        f"{prefix}_p{round(q * 100)}": _quantile(metric, q)
        for prefix, metric in PERCENTILES.items()
        for q in (0.5, 0.95, 0.99)
    },
    "request_rate": _request_rate,
    "requests": _count(m.REQUESTS),
    "errors_5xx": _count(m.REQUESTS, _5XX),
    "exceptions": _count(m.EXCEPTIONS),
    "db_connection_errors": _count(m.DB_CONNECTION_ERRORS),
    "db_errors": _count(m.DB_ERRORS),
    "slow_queries": _count(m.SLOW_QUERIES),
    "n_plus_one_requests": _count(m.N_PLUS_ONE),
    "queries_per_request": _mean(m.QUERIES_PER_REQUEST),
    "cache_hit_rate": _ratio(m.CACHE_GETS, 'result="hit"'),
    "health_score": _health_score,
    "p95_vs_baseline": _baseline,
    "queries_per_request_vs_baseline": _baseline,
}
# Measures the engine reads per route from series that are not exported.
NO_ROUTE_LABEL = {
    "cache_hit_rate": "the per-route cache reads are not exported (django_cache_gets_total "
    "has no route label); export it site-wide instead",
}


def _query(scope: _Scope) -> _Query:
    rule = scope.rule
    if rule.metric not in QUERIES:
        raise Unexportable(rule, f"{rule.metric} has no Prometheus equivalent")
    if scope.routed and (rule.metric in NO_ROUTE_LABEL or not MEASURES[rule.metric].by_route):
        why = NO_ROUTE_LABEL.get(rule.metric, f"{rule.metric} has no route")
        raise Unexportable(rule, f"{rule.metric} per route: {why}")
    return QUERIES[rule.metric](scope)


def _zero(scope: _Scope) -> str:
    """0 wherever the engine reads 0 from no series: the site, the rule's route, or each
    route that served requests in the window (the routes the engine groups by)."""
    if scope.rule.route is not None:
        route = _string(scope.rule.route.replace("$", "$$"))  # $ expands in label_replace
        return f'label_replace(vector(0), "route", {route}, "", "")'
    if scope.rule.group_by_route:
        return f"0 * ({scope.increase(_name(m.REQUESTS))} > 0)"
    return "vector(0)"


def _expression(scope: _Scope, query: _Query) -> str:
    rule = scope.rule
    value = query.value
    if query.empty == "zero" and rule.breached(0.0, 0.0):
        # No series is a reading of 0 for the engine, but nothing at all for PromQL.
        value = f"({value} or {_zero(scope)})"
    expr = f"{value} {rule.operator} {_number(rule.threshold)}"
    if rule.min_samples > 0:
        return f"{expr} and {query.samples} >= {_number(rule.min_samples)}"
    if query.empty == "none":
        # No samples is no value for the engine; here 0/0 is NaN, and NaN != x holds.
        return f"{expr} and {query.samples} > 0"
    return expr


# The engine's format_value in Prometheus' templating (close, not identical: "1.5s").
VALUE_TEXT = {
    "ratio": "{{ $value | humanizePercentage }}",
    "seconds": "{{ $value | humanizeDuration }}",
    "per_second": '{{ $value | printf "%.3g" }}/s',
    "count": '{{ $value | printf "%.0f" }}',
    "score": '{{ $value | printf "%.0f" }}',
}


def _samples_text(scope: _Scope, query: _Query) -> str:
    """The sample size at the time of the alert, queried by the template."""
    number = '{{ .Value | printf "%.0f" }}'
    if scope.routed:
        number = "{{ if eq .Labels.route $labels.route }}" + number + "{{ end }}"
    return "{{ range query " + _go_string(query.samples) + " }}" + number + "{{ end }}"


def _description(scope: _Scope, query: _Query) -> str:
    """The rule's description template, its fields filled in by Prometheus' templating."""
    rule = scope.rule
    unit = MEASURES[rule.metric].unit
    route = "{{ $labels.route }}" if scope.routed else "whole site"
    fields = {
        "rule": _literal(rule.name),
        "metric": rule.metric,
        "value": VALUE_TEXT.get(unit, '{{ $value | printf "%.3g" }}'),
        "operator": rule.operator,
        "threshold": format_value(unit, rule.threshold),
        "window": _duration(rule.window),
        "route": route,
        "on_route": f" on {route}" if scope.routed else "",
        "samples": _samples_text(scope, query),
        "severity": rule.severity,
    }
    text = []
    for literal, field, _spec, _conversion in string.Formatter().parse(rule.description):
        text.append(_literal(literal))
        if field is not None:
            # Format specs and conversions apply to the engine's text only.
            text.append(fields[re.split(r"[.\[]", field, maxsplit=1)[0]])
    return "".join(text)


def prometheus_rule(rule: Rule) -> dict[str, Any]:
    """One Prometheus alerting rule that fires when the built-in engine fires ``rule``.

    Labels: ``severity``, ``monitoring_rule`` (the rule's name) and, for a rule that
    groups by or watches one route, ``route``. Raises :class:`Unexportable` for a rule
    that the exported series cannot express.
    """
    scope = _Scope(rule)
    query = _query(scope)
    unit = MEASURES[rule.metric].unit
    on_route = " on {{ $labels.route }}" if scope.routed else ""
    annotations = {
        "summary": f"{_literal(rule.name)}{on_route}: {rule.metric} {rule.operator} "
        f"{format_value(unit, rule.threshold)} over {_duration(rule.window)}",
        "description": _description(scope, query),
    }
    if rule.runbook_url:
        annotations["runbook_url"] = _literal(rule.runbook_url)
    return {
        "alert": rule.name,
        "expr": _expression(scope, query),
        "for": _duration(rule.for_seconds),
        "labels": {"severity": rule.severity, "monitoring_rule": _literal(rule.name)},
        "annotations": annotations,
    }


def prometheus_rules(
    rules: Iterable[Rule], skipped: list[Unexportable] | None = None
) -> dict[str, Any]:
    """The rules file (``groups``) of ``rules``, in one group named ``django-monitoring``.

    An unexportable rule raises :class:`Unexportable`, or, when ``skipped`` is given, is
    appended to it and left out.
    """
    exported = []
    for rule in rules:
        try:
            exported.append(prometheus_rule(rule))
        except Unexportable as exc:
            if skipped is None:
                raise
            skipped.append(exc)
    return {"groups": [{"name": GROUP_NAME, "rules": exported}]}


def bucket_warning(rule: Rule, cfg: Mapping[str, Any]) -> str | None:
    """Why Prometheus may fire a percentile rule at another value than the engine, or None.

    ``histogram_quantile()`` interpolates linearly inside a bucket and answers at most the
    last finite bound, where the engine reads a sketch; on a bucket bound both agree on
    which side the percentile lies.
    """
    metric = PERCENTILES.get(rule.metric.rpartition("_p")[0])
    if metric is None or metric.buckets is None:
        return None
    bounds, threshold = cfg[metric.buckets], rule.threshold
    where = f"alert rule {rule.name!r}: threshold {_number(threshold)}"
    if threshold > max(bounds) or (threshold == max(bounds) and rule.operator == ">"):
        return (
            f"{where} is not under the last bound of {metric.buckets} ({max(bounds)}), "
            "the most histogram_quantile() answers: Prometheus never fires it"
        )
    if threshold in bounds:
        return None
    return (
        f"{where} is not a bound of {metric.buckets} {list(bounds)}; histogram_quantile() "
        f"interpolates in a bucket, so Prometheus may fire at another {rule.metric} than "
        "the built-in engine"
    )


def _number(value: float) -> str:
    """A PromQL number: ``2`` rather than ``2.0``."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _duration(seconds: int) -> str:
    """A Prometheus duration: ``5m``, ``1h``, ``90s``, ``0s``."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _string(text: str) -> str:
    """A PromQL string literal (PromQL strings take Go's, hence JSON's, escapes)."""
    return json.dumps(text, ensure_ascii=False)


def _go_string(text: str) -> str:
    """A string literal in Prometheus' (Go) templating: raw when it can be."""
    return f"`{text}`" if "`" not in text else json.dumps(text, ensure_ascii=False)


def _literal(text: str) -> str:
    """Text that Prometheus' templating shows as is (it would expand ``{{``)."""
    return text.replace("{{", '{{ "{{" }}')
