"""The shipped Grafana dashboard: generated, importable, on the SPEC's metric names only."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from monitoring.dashboards import DASHBOARD_FILE, build, dashboard_text

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "monitoring" / "dashboards" / DASHBOARD_FILE
# SPEC section 6, and the per-statement series of the slow-query table.
SPEC_METRICS = {
    "django_http_requests_total",
    "django_http_request_duration_seconds",
    "django_http_exceptions_total",
    "django_db_query_duration_seconds",
    "django_db_queries_per_request",
    "django_db_errors_total",
    "django_cache_gets_total",
    "django_cache_operation_duration_seconds",
    "monitoring_health_score",
    "monitoring_alerts_firing",
}
FINGERPRINT_METRICS = {
    "django_db_fingerprint_duration_seconds_total",
    "django_db_fingerprint_queries_total",
    "django_db_fingerprint_info",
}
HISTOGRAMS = {"django_http_request_duration_seconds", "django_db_query_duration_seconds"}
HISTOGRAMS |= {"django_db_queries_per_request", "django_cache_operation_duration_seconds"}
ALLOWED = SPEC_METRICS | FINGERPRINT_METRICS
ALLOWED |= {f"{name}_{suffix}" for name in HISTOGRAMS for suffix in ("bucket", "sum", "count")}


def dashboard() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def expressions(document: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in document["panels"] for target in panel["targets"]]


def test_the_committed_json_is_the_generators_output() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == build.render(), (
        "regenerate it: python -m monitoring.dashboards.build"
    )
    assert dashboard_text() == build.render()  # read as package data


def test_it_is_an_importable_export_with_a_prometheus_datasource() -> None:
    document = dashboard()
    assert document["uid"] == "django-orm-monitoring"
    assert document["schemaVersion"] >= 39
    assert document["id"] is None
    (source,) = document["__inputs"]
    assert (source["type"], source["pluginId"]) == ("datasource", "prometheus")
    required = {(item["type"], item["id"]) for item in document["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    kinds = {panel["type"] for panel in document["panels"]}
    assert {("panel", kind) for kind in kinds} <= required
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_the_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert list(variables) == ["datasource", "instance", "route"]
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    assert variables["instance"]["query"] == "label_values(django_http_requests_total, instance)"
    assert (
        variables["route"]["query"]
        == 'label_values(django_http_requests_total{instance=~"$instance"}, route)'
    )
    for name in ("instance", "route"):
        variable = variables[name]
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (
            True,
            True,
            ".*",
        )
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_every_query_uses_the_datasource_variable_and_only_spec_metrics() -> None:
    document = dashboard()
    for panel in document["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    used = {
        name
        for expr in expressions(document)
        for name in re.findall(r"\b(?:django|monitoring)_[a-z_]+", expr)
    }
    assert used <= ALLOWED, used - ALLOWED
    assert {"django_http_request_duration_seconds_bucket", "monitoring_health_score"} <= used


def test_the_panels_the_issue_asks_for() -> None:
    text = "\n".join(expressions(dashboard()))
    for needle in (
        "histogram_quantile(0.99, sum by (le) (rate(django_http_request_duration_seconds_bucket"
        '{route=~"$route", instance=~"$instance"}[$__rate_interval])))',
        "histogram_quantile(0.95, sum by (le) (rate(django_db_query_duration_seconds_bucket",
        "django_db_queries_per_request_sum",
        'result="hit"',
        "sum by (prefix)",
        'status=~"5.."',
        "monitoring_alerts_firing",
        "increase(django_db_fingerprint_duration_seconds_total",
        "group_left (statement, operation)",
    ):
        assert needle in text, needle
    (table,) = [p for p in dashboard()["panels"] if p["type"] == "table"]
    assert all(t["instant"] and t["format"] == "table" for t in table["targets"])


def test_the_export_command_writes_stdout_or_a_file(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("export_grafana_dashboard", stdout=out)
    assert out.getvalue() == SHIPPED.read_text(encoding="utf-8")
    target = tmp_path / "dashboard.json"
    call_command("export_grafana_dashboard", "--output", str(target), stdout=io.StringIO())
    assert json.loads(target.read_text(encoding="utf-8"))["uid"] == "django-orm-monitoring"


def test_the_export_command_reports_an_unwritable_path(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as raised:
        call_command("export_grafana_dashboard", "--output", str(tmp_path / "no" / "x.json"))
    message = str(raised.value)
    assert "\n" not in message and "cannot write" in message and "No such file" in message
