"""Prometheus exposition: the SPEC metric names, exact values, and promtool's approval."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from monitoring.exposition import render
from monitoring.recording.aggregate import Bucket, Histogram
from tests.conftest import Monitored, run_promtool

pytestmark = pytest.mark.django_db


def scrape(client: Client, **headers: str) -> tuple[str, str]:
    response = client.get("/monitoring/metrics/?format=prometheus", **headers)
    assert response.status_code == 200
    return response.content.decode(), response["Content-Type"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def make_traffic() -> None:
    client = Client(raise_request_exception=False)
    for _ in range(3):
        client.get("/t/queries/2/")
    client.get("/t/boom/")
    client.get("/missing/")
    cache.set("user:1", "x")
    cache.get("user:1")
    cache.get("product:404")


def test_exposition_has_the_spec_metrics_with_exact_values(monitored: Monitored) -> None:
    make_traffic()
    text, content_type = scrape(Client())
    assert content_type.startswith("text/plain; version=0.0.4")
    values = samples(text)
    route = "/t/queries/<int:n>/"
    assert (
        values[
            (
                "django_http_requests_total",
                (("method", "GET"), ("route", route), ("status", "200")),
            )
        ]
        == 3
    )
    assert (
        values[
            (
                "django_http_requests_total",
                (("method", "GET"), ("route", "/t/boom/"), ("status", "500")),
            )
        ]
        == 1
    )
    assert (
        values[
            (
                "django_http_requests_total",
                (("method", "GET"), ("route", "<unmatched>"), ("status", "404")),
            )
        ]
        == 1
    )
    assert (
        values[
            ("django_http_exceptions_total", (("exception", "ValueError"), ("route", "/t/boom/")))
        ]
        == 1
    )
    assert (
        values[
            ("django_http_request_duration_seconds_count", (("method", "GET"), ("route", route)))
        ]
        == 3
    )
    assert values[("django_db_queries_per_request_sum", (("route", route),))] == 6
    assert values[("django_db_queries_per_request_bucket", (("le", "1.0"), ("route", route)))] == 0
    assert values[("django_db_queries_per_request_bucket", (("le", "2.0"), ("route", route)))] == 3
    assert (
        values[
            (
                "django_db_query_duration_seconds_count",
                (("alias", "default"), ("operation", "select")),
            )
        ]
        >= 6
    )
    assert (
        values[
            (
                "django_cache_gets_total",
                (("cache", "default"), ("prefix", "user"), ("result", "hit")),
            )
        ]
        == 1
    )
    assert (
        values[
            (
                "django_cache_gets_total",
                (("cache", "default"), ("prefix", "product"), ("result", "miss")),
            )
        ]
        == 1
    )
    assert (
        values[
            (
                "django_cache_operation_duration_seconds_count",
                (("cache", "default"), ("operation", "set")),
            )
        ]
        == 1
    )
    assert "monitoring_system_cpu_percent" in text


def test_counters_only_grow_between_scrapes(monitored: Monitored) -> None:
    client = Client()
    client.get("/t/plain/")
    key = (
        "django_http_requests_total",
        (("method", "GET"), ("route", "/t/plain/"), ("status", "200")),
    )
    first = samples(scrape(client)[0])[key]
    client.get("/t/plain/")
    client.get("/t/plain/")
    assert samples(scrape(client)[0])[key] == first + 2


def test_promtool_finds_nothing_to_complain_about(monitored: Monitored) -> None:
    make_traffic()
    text, _ = scrape(Client())
    result = run_promtool("check", "metrics", stdin=text.encode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_openmetrics_when_the_accept_header_asks(monitored: Monitored) -> None:
    make_traffic()
    response = Client().get(
        "/monitoring/metrics/",
        HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    body = response.content.decode()
    assert body.endswith("# EOF\n")
    assert 'django_http_requests_total{method="GET",route="/t/boom/",status="500"} 1.0' in body


def test_histogram_buckets_are_cumulative_and_end_with_inf() -> None:
    totals = Bucket(0, 0)
    hist = Histogram((0.1, 1.0), None)
    for value in (0.05, 0.5, 0.7, 3.0):
        hist.observe(value)
    totals.histograms[("request_duration", ("GET", "/a/"))] = hist
    body, _ = render(totals)
    values = samples(body.decode())
    labels = (("method", "GET"), ("route", "/a/"))
    bucket = "django_http_request_duration_seconds_bucket"
    assert values[(bucket, (("le", "0.1"), *labels))] == 1
    assert values[(bucket, (("le", "1.0"), *labels))] == 3
    assert values[(bucket, (("le", "+Inf"), *labels))] == 4
    assert values[("django_http_request_duration_seconds_sum", labels)] == pytest.approx(4.25)


def test_label_values_are_escaped(monitored: Monitored) -> None:
    totals = Bucket(0, 0)
    totals.counters[("requests", ("GET", '/a/"quoted"\\', "200"))] = 1
    body, _ = render(totals)
    result = run_promtool("check", "metrics", stdin=body)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        samples(body.decode())[
            (
                "django_http_requests_total",
                (("method", "GET"), ("route", '/a/"quoted"\\'), ("status", "200")),
            )
        ]
        == 1
    )


def test_the_health_score_is_a_gauge(monitored: Monitored) -> None:
    from django.test import Client

    text = Client().get("/monitoring/metrics/?format=prometheus").content.decode()
    assert "# TYPE monitoring_health_score gauge" in text
    assert "\nmonitoring_health_score 100.0\n" in text  # no traffic yet
    for _ in range(3):
        Client().get("/t/status/500/")
    text = Client().get("/monitoring/metrics/?format=prometheus").content.decode()
    assert "\nmonitoring_health_score 60.0\n" in text  # every request failed: 40 points


@pytest.mark.django_db
def test_firing_alerts_and_the_outbox_are_gauges(monitored: Monitored) -> None:
    from django.test import Client

    from monitoring.alerts.service import to_datetime
    from monitoring.models import AlertState, Notification

    now = to_datetime(1_700_000_000.0)
    for rule, route, severity in [
        ("high_error_rate", "", "critical"),
        ("high_response_time", "/a/", "warning"),
        ("high_response_time", "/b/", "warning"),
    ]:
        AlertState.objects.create(
            rule=rule,
            route=route,
            status="firing",
            severity=severity,
            threshold=1,
            active_since=now,
            evaluated_at=now,
            dedup_key=rule,
        )
    AlertState.objects.create(
        rule="p", status="pending", severity="critical", threshold=1, active_since=now,
        evaluated_at=now, dedup_key="p",
    )  # fmt: skip
    for channel, status in [("slack", "pending"), ("slack", "failed"), ("email", "sent")]:
        Notification.objects.create(
            channel=channel, kind="firing", dedup_key="k", payload={}, status=status,
            created_at=now, next_attempt_at=now,
        )  # fmt: skip
    text = Client().get("/monitoring/metrics/?format=prometheus").content.decode()
    found = samples(text)
    assert found[("monitoring_alerts_firing", (("severity", "critical"),))] == 1
    assert found[("monitoring_alerts_firing", (("severity", "warning"),))] == 2
    assert found[("monitoring_alerts_firing", (("severity", "info"),))] == 0
    assert found[("monitoring_alert_notifications_pending", (("channel", "slack"),))] == 1
    assert found[("monitoring_alert_notifications_failed", (("channel", "slack"),))] == 1
    assert found[("monitoring_alert_notification_oldest_pending_seconds", ())] > 0
    assert run_promtool("check", "metrics", stdin=text.encode()).returncode == 0


def test_the_service_heartbeat_is_a_gauge(monitored: Monitored) -> None:
    from django.test import Client

    from monitoring import runtime

    text = Client().get("/monitoring/metrics/?format=prometheus").content.decode()
    assert "# TYPE monitoring_service_last_cycle_timestamp_seconds gauge" in text
    assert "\nmonitoring_service_last_cycle_timestamp_seconds " not in text  # never ran
    runtime.get_store().beat("run_monitoring", 1_800_000_000.5)
    found = samples(Client().get("/monitoring/metrics/?format=prometheus").content.decode())
    assert found[("monitoring_service_last_cycle_timestamp_seconds", ())] == 1_800_000_000.5


def test_connection_failures_start_at_zero_for_every_alias(monitored: Monitored) -> None:
    # Prometheus sees no increase() when a counter first appears: the first failure of a
    # kind would never alert there if its series only began with it.
    from django.conf import settings
    from django.test import Client

    found = samples(Client().get("/monitoring/metrics/?format=prometheus").content.decode())
    for alias in settings.DATABASES:
        for reason in ("refused", "timeout", "pool_exhausted", "too_many", "other"):
            key = (
                "django_db_connection_errors_total",
                (("alias", alias), ("reason", reason)),
            )
            assert found[key] == 0
