"""Alert rules: the defaults of SPEC §7, overrides, new rules, and the checks on bad ones."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from monitoring.alerts.rules import DEFAULT_RULES, Rule, build_rule, load_rules, rule_errors


def rules_with(table: dict) -> list[Rule]:
    with override_settings(MONITORING={"STORE_URL": "memory://", "ALERT_RULES": table}):
        return load_rules()


def test_the_eight_defaults() -> None:
    table = {
        r.name: (r.severity, r.metric, r.operator, r.threshold, r.window) for r in DEFAULT_RULES
    }
    assert table == {
        "high_error_rate": ("critical", "error_rate", ">", 0.05, 300),
        "very_high_response_time": ("critical", "request_duration_p99", ">", 2.0, 300),
        "database_connection_errors": ("critical", "db_connection_errors", ">", 0, 300),
        "high_response_time": ("warning", "request_duration_p95", ">", 1.0, 300),
        "slow_database_queries": ("warning", "query_duration_p95", ">", 0.1, 300),
        "low_cache_hit_rate": ("warning", "cache_hit_rate", "<", 0.5, 300),
        "high_query_count": ("warning", "queries_per_request", ">", 50, 300),
        "performance_regression": ("warning", "p95_vs_baseline", ">", 1.5, 900),
    }
    assert [r.name for r in load_rules()] == [r.name for r in DEFAULT_RULES]


def test_a_default_is_overridden_or_disabled_by_name_and_new_rules_are_added() -> None:
    rules = rules_with(
        {
            "high_error_rate": {"threshold": 0.02, "for": "2m", "cooldown": "30m"},
            "low_cache_hit_rate": {"enabled": False},
            "checkout_slow": {
                "metric": "request_duration_p95",
                "operator": ">=",
                "threshold": 0.5,
                "window": "10m",
                "min_samples": 5,
                "group_by": "route",
                "severity": "critical",
                "channels": ["pagerduty"],
                "runbook_url": "https://wiki.example.com/checkout",
                "description": "{route} answers in {value}",
            },
        }
    )
    by_name = {r.name: r for r in rules}
    assert "low_cache_hit_rate" not in by_name
    high = by_name["high_error_rate"]
    assert (high.threshold, high.for_seconds, high.cooldown, high.severity) == (
        0.02,
        120,
        1800,
        "critical",
    )
    assert by_name["checkout_slow"] == Rule(
        "checkout_slow",
        "request_duration_p95",
        ">=",
        0.5,
        window=600,
        min_samples=5,
        group_by_route=True,
        severity="critical",
        channels=("pagerduty",),
        runbook_url="https://wiki.example.com/checkout",
        description="{route} answers in {value}",
    )


@pytest.mark.parametrize(
    ("table", "rule", "field"),
    [
        ({"x": {"metric": "latency", "operator": ">", "threshold": 1}}, "x", "metric"),
        ({"x": {"metric": "error_rate", "operator": "=>", "threshold": 1}}, "x", "operator"),
        ({"x": {"metric": "error_rate", "operator": ">"}}, "x", "threshold"),
        ({"high_error_rate": {"threshold": "5%"}}, "high_error_rate", "threshold"),
        ({"high_error_rate": {"window": "5 minutes"}}, "high_error_rate", "window"),
        ({"high_error_rate": {"window": "30s"}}, "high_error_rate", "window"),
        ({"high_error_rate": {"for": -1}}, "high_error_rate", "for"),
        ({"high_error_rate": {"severity": "page"}}, "high_error_rate", "severity"),
        ({"high_error_rate": {"channels": ["sms"]}}, "high_error_rate", "channels"),
        ({"high_error_rate": {"group_by": "host"}}, "high_error_rate", "group_by"),
        ({"slow_database_queries": {"group_by": "route"}}, "slow_database_queries", "group_by"),
        ({"high_error_rate": {"description": "{nope}"}}, "high_error_rate", "description"),
        ({"high_error_rate": {"enabled": "no"}}, "high_error_rate", "enabled"),
        ({"high_error_rate": {"thresold": 1}}, "high_error_rate", "thresold"),
    ],
)
def test_an_invalid_rule_is_a_system_check_error_naming_rule_and_field(
    table: dict, rule: str, field: str
) -> None:
    with override_settings(MONITORING={"STORE_URL": "memory://", "ALERT_RULES": table}):
        errors = rule_errors()
        assert [(e.rule, e.field) for e in errors] == [(rule, field)]
        messages = [m for m in run_checks() if m.id == "monitoring.E022"]
        assert len(messages) == 1
        assert repr(rule) in messages[0].msg and field in messages[0].msg
        names = [r.name for r in load_rules()]
    # A bad override keeps the default watching; a bad new rule is left out.
    assert (rule in names) == (rule == "high_error_rate" or rule == "slow_database_queries")


def test_routing_to_an_unknown_channel_is_a_check_error() -> None:
    monitoring = {"STORE_URL": "memory://", "ALERT_ROUTING": {"critical": ["sms"]}}
    with override_settings(MONITORING=monitoring):
        assert [m.id for m in run_checks() if m.id == "monitoring.E023"] == ["monitoring.E023"]


def test_a_rule_can_be_built_directly() -> None:
    rule = build_rule("x", {"metric": "cache_hit_rate", "operator": "<", "threshold": 0.9})
    assert rule.breached(0.5, 10) and not rule.breached(0.95, 10) and not rule.breached(None, 0)


def test_runbook_links_from_the_base_url_unless_a_rule_has_its_own() -> None:
    assert all(rule.runbook_url is None for rule in rules_with({}))
    base = "https://git.example.com/ops/blob/main/docs/runbooks/"
    monitoring = {
        "STORE_URL": "memory://",
        "RUNBOOK_BASE_URL": base,
        "ALERT_RULES": {
            "high_error_rate": {"runbook_url": "https://wiki.example.com/5xx"},
            "checkout_slow": {"metric": "request_duration_p95", "operator": ">", "threshold": 1},
        },
    }
    with override_settings(MONITORING=monitoring):
        links = {rule.name: rule.runbook_url for rule in load_rules()}
    assert links["high_error_rate"] == "https://wiki.example.com/5xx"
    assert links["low_cache_hit_rate"] == base + "low_cache_hit_rate.md"
    assert links["performance_regression"] == base + "performance_regression.md"
    assert links["checkout_slow"] is None  # no page of ours for a rule of the site's
