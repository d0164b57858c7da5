"""The alert rules exported as Prometheus alerting rules, checked by promtool.

``promtool test rules`` replays series shaped like the exposition's (counters, histogram
buckets, two instances) and checks that each default rule fires, with its labels and
annotations, exactly when the built-in engine would: over the threshold, with enough
samples, after ``for``, once per breaching route.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import override_settings
from prometheus_client.utils import floatToGoString

from monitoring import config
from monitoring.alerts.measures import MEASURES
from monitoring.alerts.promql import (
    QUERIES,
    Unexportable,
    bucket_warning,
    prometheus_rule,
    prometheus_rules,
)
from monitoring.alerts.rules import DEFAULT_RULES, Rule, load_rules
from tests.conftest import run_promtool

# performance_regression compares with a baseline in the database: not exported.
EXPORTED = [rule for rule in DEFAULT_RULES if rule.name != "performance_regression"]
RULES = {rule.name: rule for rule in EXPORTED}
BASELINE_SKIPPED = (
    "warning: alert rule 'performance_regression' is not exported to Prometheus: compares "
    "with a baseline recorded in the database; left out"
)
MINUTES = 30  # every input series runs this long, one scrape a minute
REQUEST_SECONDS = "django_http_request_duration_seconds"
QUERY_SECONDS = "django_db_query_duration_seconds"
PER_REQUEST = "django_db_queries_per_request"


# Input series, as Prometheus scrapes the exposition (instance and job added).


def _labels(labels: dict[str, str], instance: str) -> str:
    pairs = {**labels, "instance": instance, "job": "django"}
    return "{" + ", ".join(f'{key}="{value}"' for key, value in pairs.items()) + "}"


def counter(name: str, per_minute: float, instance: str = "web-1", **labels: str) -> dict:
    """A counter from 0, growing by ``per_minute`` each minute."""
    return {"series": name + _labels(labels, instance), "values": f"0+{per_minute}x{MINUTES}"}


def histogram(
    name: str,
    bounds_key: str,
    per_minute: dict[float, int],
    instance: str = "web-1",
    **labels: str,
) -> list[dict]:
    """A histogram's series, observing each ``value: count`` of ``per_minute`` a minute."""
    bounds = [*(float(b) for b in config.get_config()[bounds_key]), float("inf")]
    series = [
        counter(
            f"{name}_bucket",
            sum(n for value, n in per_minute.items() if value <= bound),
            instance,
            **labels,
            le=floatToGoString(bound),
        )
        for bound in bounds
    ]
    series.append(counter(f"{name}_count", sum(per_minute.values()), instance, **labels))
    total = sum(value * n for value, n in per_minute.items())
    return [*series, counter(f"{name}_sum", total, instance, **labels)]


def latency(route: str, seconds: float, per_minute: int = 30) -> list[dict]:
    bounds = "REQUEST_DURATION_BUCKETS"
    return histogram(REQUEST_SECONDS, bounds, {seconds: per_minute}, method="GET", route=route)


def queries(seconds: float, per_minute: int, instance: str = "web-1") -> list[dict]:
    return histogram(
        QUERY_SECONDS, "QUERY_DURATION_BUCKETS", {seconds: per_minute}, instance,
        alias="default", operation="select",
    )  # fmt: skip


def per_request(route: str, queries_each: int, requests: int = 10) -> list[dict]:
    return histogram(
        PER_REQUEST, "QUERIES_PER_REQUEST_BUCKETS", {queries_each: requests}, route=route
    )


def requests(route: str, status: str, per_minute: float, instance: str = "web-1") -> dict:
    name = "django_http_requests_total"
    return counter(name, per_minute, instance, method="GET", route=route, status=status)


def cache(result: str, per_minute: float) -> dict:
    return counter(
        "django_cache_gets_total", per_minute, cache="default", prefix="p", result=result
    )


# Expected alerts.


def alert(name: str, description: str, route: str | None = None) -> dict[str, Any]:
    """The alert ``name`` fires (on ``route``) with the default description ``description``."""
    rule = RULES[name]
    labels = {"severity": rule.severity, "monitoring_rule": name}
    rule_text = prometheus_rule(rule)["annotations"]["summary"]
    summary = rule_text.replace("{{ $labels.route }}", route or "")
    if route is not None:
        labels["route"] = route
    return {
        "exp_labels": labels,
        "exp_annotations": {"summary": summary, "description": description},
    }


def case(name: str, series: list[dict], at: str, *alerts: dict) -> dict[str, Any]:
    """One promtool test: ``series`` in, exactly ``alerts`` of rule ``name`` firing ``at``."""
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [{"eval_time": at, "alertname": name, "exp_alerts": list(alerts)}],
    }


def promtool_test(tmp_path: Path, rules: dict[str, Any], tests: list[dict]) -> None:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    unit = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(unit, sort_keys=False))
    result = run_promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def p99(route: str, value: str) -> dict:
    description = f"request_duration_p99 is {value} (threshold > 2 s) over 5m"
    return alert("very_high_response_time", description, route)


# For each default rule: series that breach it, and series that do not.
CASES: dict[str, list[dict]] = {
    "high_error_rate": [
        # 10% of 5xx over two instances: fires after its minute of `for`.
        case("high_error_rate", [
            requests("/items/", "200", 90), requests("/items/", "500", 10),
            requests("/items/", "200", 90, "web-2"), requests("/items/", "503", 10, "web-2"),
        ], "10m", alert("high_error_rate", "error_rate is 10% (threshold > 5%) over 5m")),
        case("high_error_rate", [
            requests("/items/", "200", 98), requests("/items/", "500", 2),
        ], "10m"),
        # 3 failed requests out of 3: not enough to page anyone.
        case("high_error_rate", [
            {"series": 'django_http_requests_total{route="/a/", status="500"}',
             "values": "0 1 2 3 3 3 3 3 3"},
        ], "5m"),
        # 15 failures on each instance: 30 for the fleet, enough.
        case("high_error_rate", [
            requests("/a/", "500", 3), requests("/a/", "500", 3, "web-2"),
        ], "10m", alert("high_error_rate", "error_rate is 100% (threshold > 5%) over 5m")),
    ],
    "very_high_response_time": [
        # One alert per breaching route, none for the fast one.
        case("very_high_response_time", [
            *latency("/slow/", 2.5), *latency("/slower/", 3), *latency("/fast/", 0.05),
        ], "10m", p99("/slow/", "4.97s"), p99("/slower/", "4.97s")),
        # All under the 2 s bound: p99 interpolates to 1.99 s.
        case("very_high_response_time", latency("/slow/", 1.5), "10m"),
        case("very_high_response_time", latency("/rare/", 2.5, per_minute=3), "10m"),
    ],
    "database_connection_errors": [
        case("database_connection_errors", [
            {"series": 'django_db_connection_errors_total{alias="default", reason="refused"}',
             "values": "0 0 0 0 0 0 2 2 2 2 2 2"},
        ], "7m", alert("database_connection_errors",
                       "db_connection_errors is 2 (threshold > 0) over 5m")),
        # Failures longer ago than the window.
        case("database_connection_errors", [
            {"series": 'django_db_connection_errors_total{alias="default", reason="refused"}',
             "values": "0 0 2 2 2 2 2 2 2 2 2 2"},
        ], "9m"),
    ],
    "high_response_time": [
        # Pending for the first 5 minutes of breach, then firing.
        case("high_response_time", latency("/search/", 1.5), "4m"),
        case("high_response_time", latency("/search/", 1.5), "10m", alert(
            "high_response_time", "request_duration_p95 is 1.95s (threshold > 1 s) over 5m",
            "/search/")),
        case("high_response_time", latency("/search/", 0.8), "10m"),
    ],
    "slow_database_queries": [
        case("slow_database_queries", [*queries(0.2, 60), *queries(0.2, 40, "web-2")], "10m",
             alert("slow_database_queries",
                   "query_duration_p95 is 242.5ms (threshold > 100 ms) over 5m")),
        case("slow_database_queries", queries(0.05, 100), "10m"),
        case("slow_database_queries", queries(0.2, 5), "10m"),
    ],
    "low_cache_hit_rate": [
        case("low_cache_hit_rate", [cache("hit", 20), cache("miss", 80)], "10m",
             alert("low_cache_hit_rate", "cache_hit_rate is 20% (threshold < 50%) over 5m")),
        # Not one hit yet: no hit series at all, a hit rate of 0.
        case("low_cache_hit_rate", [cache("miss", 40)], "10m",
             alert("low_cache_hit_rate", "cache_hit_rate is 0% (threshold < 50%) over 5m")),
        case("low_cache_hit_rate", [cache("hit", 80), cache("miss", 20)], "10m"),
        case("low_cache_hit_rate", [cache("miss", 10)], "10m"),
    ],
    "high_query_count": [
        case("high_query_count", [*per_request("/list/", 80), *per_request("/detail/", 5)],
             "10m", alert("high_query_count",
                          "queries_per_request is 80 (threshold > 50) over 5m", "/list/")),
        case("high_query_count", per_request("/list/", 40), "10m"),
        case("high_query_count", per_request("/list/", 80, requests=1), "10m"),
    ],
}  # fmt: skip


def test_every_default_rule_has_cases() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("name", list(CASES))
def test_default_rule_fires_when_the_engine_would(tmp_path: Path, name: str) -> None:
    promtool_test(tmp_path, prometheus_rules(EXPORTED), CASES[name])


# A site's own rules: overrides, a disabled default, rules on one route.

SITE_RULES = {
    "high_error_rate": {"threshold": 0.02, "for": "2m", "runbook_url": "https://wiki/5xx"},
    "low_cache_hit_rate": {"enabled": False},
    "checkout_slow": {
        "metric": "request_duration_p95", "operator": ">", "threshold": 0.5,
        "route": "/checkout/", "window": "10m", "min_samples": 30, "for": "5m",
        "severity": "critical", "runbook_url": "https://wiki/checkout",
        "description": "{rule}{on_route}: p95 {value} over {window}, {samples} requests",
    },
    "checkout_down": {"metric": "requests", "operator": "<", "threshold": 1,
                      "route": "/checkout/", "severity": "critical"},
    "cache_by_route": {"metric": "cache_hit_rate", "operator": "<", "threshold": 0.5,
                       "group_by": "route"},
}  # fmt: skip


def export(tmp_path: Path, rules: dict[str, Any] | None = None) -> tuple[Path, str]:
    """Run the command with ``--output``; the file and what it said on stderr."""
    path, err = tmp_path / "django-monitoring.yml", StringIO()
    with override_settings(MONITORING={"STORE_URL": "memory://", "ALERT_RULES": rules or {}}):
        call_command("export_prometheus_rules", "--output", str(path), stderr=err)
    return path, err.getvalue()


@pytest.mark.parametrize("rules", [{}, SITE_RULES], ids=["defaults", "site rules"])
def test_exported_file_passes_promtool_check(tmp_path: Path, rules: dict[str, Any]) -> None:
    path, _ = export(tmp_path, rules)
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    exported = {r["alert"]: r for r in yaml.safe_load(path.read_text())["groups"][0]["rules"]}
    if rules:
        assert "low_cache_hit_rate" not in exported and "cache_by_route" not in exported
        assert " > 0.02 and " in exported["high_error_rate"]["expr"]
        assert exported["high_error_rate"]["for"] == "2m"
        assert exported["checkout_slow"]["labels"]["severity"] == "critical"
    else:
        assert list(exported) == list(RULES)


def test_site_rules_on_one_route_fire_in_prometheus(tmp_path: Path) -> None:
    with override_settings(MONITORING={"STORE_URL": "memory://", "ALERT_RULES": SITE_RULES}):
        document = prometheus_rules(load_rules(), skipped=[])
    slow = {
        "exp_labels": {"severity": "critical", "monitoring_rule": "checkout_slow",
                       "route": "/checkout/"},
        "exp_annotations": {
            "summary": "checkout_slow on /checkout/: request_duration_p95 > 500 ms over 10m",
            "description": "checkout_slow on /checkout/: p95 975ms over 10m, 300 requests",
            "runbook_url": "https://wiki/checkout",
        },
    }  # fmt: skip
    down = {
        "exp_labels": {"severity": "critical", "monitoring_rule": "checkout_down",
                       "route": "/checkout/"},
        "exp_annotations": {"summary": "checkout_down on /checkout/: requests < 1 over 5m",
                            "description": "requests is 0 (threshold < 1) over 5m"},
    }  # fmt: skip
    busy = latency("/checkout/", 0.8)
    promtool_test(tmp_path, document, [
        # The only /checkout/ is slow (0.8 s: p95 975 ms by the buckets), /items/ is fast.
        case("checkout_slow", [*busy, *latency("/items/", 3)], "20m", slow),
        case("checkout_slow", latency("/checkout/", 0.3), "20m"),
        # No /checkout/ series at all: 0 requests, as the engine reads it.
        case("checkout_down", [requests("/items/", "200", 10)], "10m", down),
        case("checkout_down", [requests("/checkout/", "200", 10)], "10m"),
    ])  # fmt: skip


# The expressions, word for word.


def test_error_rate_rule() -> None:
    rule = prometheus_rule(RULES["high_error_rate"])
    requests = "increase(django_http_requests_total[5m])"
    assert rule == {
        "alert": "high_error_rate",
        "expr": f'sum(increase(django_http_requests_total{{status=~"5.*"}}[5m])) / sum({requests})'
        f" > 0.05 and sum({requests}) >= 20",
        "for": "1m",
        "labels": {"severity": "critical", "monitoring_rule": "high_error_rate"},
        "annotations": {
            "summary": "high_error_rate: error_rate > 5% over 5m",
            "description": "error_rate is {{ $value | humanizePercentage }} (threshold > 5%) "
            "over 5m",
        },
    }


def test_percentile_rule_by_route() -> None:
    rule = prometheus_rule(RULES["very_high_response_time"])
    assert rule["expr"] == (
        "histogram_quantile(0.99, sum by (le, route) "
        "(rate(django_http_request_duration_seconds_bucket[5m]))) > 2"
        " and sum by (route) (increase(django_http_request_duration_seconds_count[5m])) >= 20"
    )
    assert (rule["for"], rule["labels"]["severity"]) == ("1m", "critical")
    assert rule["annotations"]["summary"] == (
        "very_high_response_time on {{ $labels.route }}: request_duration_p99 > 2 s over 5m"
    )


def test_rule_on_one_route_reads_that_route() -> None:
    rule = Rule("checkout_errors", "errors_5xx", ">=", 3, window=600, route='/a "b"/')
    assert prometheus_rule(rule)["expr"] == (
        'sum by (route) (increase(django_http_requests_total{route="/a \\"b\\"/", '
        'status=~"5.*"}[10m])) >= 3'
    )


def test_a_ratio_without_min_samples_still_needs_a_sample() -> None:
    rule = Rule("errors", "error_rate", "!=", 0.5)
    assert prometheus_rule(rule)["expr"].endswith(
        " != 0.5 and sum(increase(django_http_requests_total[5m])) > 0"
    )


def test_every_metric_is_known_to_the_exporter() -> None:
    assert set(QUERIES) == set(MEASURES)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (Rule("c", "cache_hit_rate", "<", 0.5, group_by_route=True), "per-route cache reads"),
        (Rule("c", "cache_hit_rate", "<", 0.5, route="/a/"), "per-route cache reads"),
        (Rule("h", "health_score", "<", 80, window=3600), "score over the last 5m"),
        (Rule("x", "latency", ">", 1), "latency has no Prometheus equivalent"),
        (DEFAULT_RULES[-1], "compares with a baseline recorded in the database"),
        (Rule("q", "queries_per_request_vs_baseline", ">", 2), "baseline recorded"),
    ],
)
def test_unexportable_rules_say_why(rule: Rule, reason: str) -> None:
    with pytest.raises(Unexportable, match=reason) as failure:
        prometheus_rule(rule)
    assert failure.value.rule is rule
    skipped: list[Unexportable] = []
    assert prometheus_rules([rule], skipped)["groups"][0]["rules"] == []
    assert [problem.rule for problem in skipped] == [rule]


def test_threshold_between_bucket_bounds_is_flagged() -> None:
    cfg = config.get_config()
    assert bucket_warning(RULES["very_high_response_time"], cfg) is None
    assert bucket_warning(RULES["high_error_rate"], cfg) is None
    warning = bucket_warning(Rule("p", "query_duration_p99", ">", 0.3), cfg)
    assert warning is not None and "0.3 is not a bound of QUERY_DURATION_BUCKETS" in warning
    assert bucket_warning(Rule("p", "request_duration_p99", ">=", 10), cfg) is None
    for threshold in (10, 30):
        warning = bucket_warning(Rule("p", "request_duration_p99", ">", threshold), cfg)
        assert warning is not None and warning.endswith("Prometheus never fires it")


# The command.


def test_command_writes_to_stdout() -> None:
    out, err = StringIO(), StringIO()
    call_command("export_prometheus_rules", stdout=out, stderr=err)
    assert out.getvalue().startswith("# Generated by `manage.py export_prometheus_rules`")
    document = yaml.safe_load(out.getvalue())
    assert document == prometheus_rules(EXPORTED)
    assert err.getvalue().splitlines() == [BASELINE_SKIPPED]


def test_command_writes_the_file_and_warns_of_what_it_leaves_out(tmp_path: Path) -> None:
    rules = {**SITE_RULES, "odd_p95": {"metric": "request_duration_p95", "operator": ">",
                                       "threshold": 0.3}}  # fmt: skip
    path, err = export(tmp_path, rules)
    assert err.splitlines() == [
        BASELINE_SKIPPED,
        "warning: alert rule 'cache_by_route' is not exported to Prometheus: cache_hit_rate "
        "per route: the per-route cache reads are not exported (django_cache_gets_total has "
        "no route label); export it site-wide instead; left out",
        "warning: alert rule 'odd_p95': threshold 0.3 is not a bound of "
        "REQUEST_DURATION_BUCKETS [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]; "
        "histogram_quantile() interpolates in a bucket, so Prometheus may fire at another "
        "request_duration_p95 than the built-in engine",
    ]
    names = [rule["alert"] for rule in yaml.safe_load(path.read_text())["groups"][0]["rules"]]
    assert "odd_p95" in names and "cache_by_route" not in names


def test_command_fails_with_one_line_on_an_unwritable_path(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "rules.yml"
    with pytest.raises(CommandError) as failure:
        call_command("export_prometheus_rules", "--output", str(target), stdout=StringIO())
    assert str(failure.value) == f"cannot write {target}: No such file or directory"
