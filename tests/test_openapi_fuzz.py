"""Every endpoint fuzzed from the shipped OpenAPI document with schemathesis: no 5xx but the
documented 503s, every response as documented, bad input answered 400, no access without
the token."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib.resources import files
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from monitoring.models import AlertEvent, AlertState, Notification, Silence

TOKEN = "fuzzing-token-not-a-secret"
DOCUMENT = json.loads(files("monitoring").joinpath("schema/openapi.json").read_text())
schema = schemathesis.openapi.from_dict({**DOCUMENT, "servers": [{"url": "/monitoring"}]})
schema.app = get_wsgi_application()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def configured(monitored: Any, django_settings: Any) -> None:
    # Only the token admits: the fuzzer's loopback address is not allowlisted here.
    django_settings.MONITORING = {
        "STORE_URL": "memory://",
        "TOKEN": TOKEN,
        "ALLOWED_IPS": ["198.51.100.0/24"],
        "HEALTH_DATABASES": ["default"],
        "HEALTH_DISK_THRESHOLDS": [100, 100],
        "HEALTH_MEMORY_THRESHOLDS": [100, 100],
    }
    Client().get("/t/plain/")
    Client().get("/t/queries/2/")
    alert_rows()


def alert_rows() -> None:
    """An alert of each status, a silence, history with a sent and a failed notification:
    the alert endpoints' responses are checked against their schemas with rows in them."""
    now = timezone.now()
    common = {"severity": "critical", "threshold": 0.05, "active_since": now, "dedup_key": "k"}
    AlertState.objects.create(
        rule="high_error_rate",
        status="firing",
        value=0.2,
        fired_at=now,
        evaluated_at=now,
        muted="silence 1",
        **common,
    )
    AlertState.objects.create(
        rule="high_response_time",
        route="/t/plain/",
        status="pending",
        value=None,
        evaluated_at=now,
        **common,
    )
    Silence.objects.create(
        rule="high_error_rate",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        comment="deploying",
    )
    event = AlertEvent.objects.create(
        rule="high_error_rate",
        severity="critical",
        from_state="pending",
        to_state="firing",
        value=0.2,
        threshold=0.05,
        operator=">",
        metric="error_rate",
        window_seconds=300,
        at=now,
    )
    for channel, status in (("slack", "sent"), ("pagerduty", "failed")):
        Notification.objects.create(
            event=event,
            channel=channel,
            kind="firing",
            dedup_key="k",
            payload={},
            status=status,
            attempts=1,
            created_at=now,
            next_attempt_at=now,
            sent_at=now if status == "sent" else None,
            last_error="" if status == "sent" else "HTTP 400",
        )


@pytest.fixture
def django_settings(settings: Any) -> Any:
    return settings


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_endpoint_answers_as_documented(case: Any) -> None:
    # Every check but "schema-valid data is accepted": a window's bounds (1m to the
    # retention) depend on the configuration, which a schema cannot say, and are answered 400.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=[positive_data_acceptance]
    )


def test_the_document_is_served_to_authorised_callers(configured: None) -> None:
    response = Client().get("/monitoring/schema/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    body = response.json()
    assert body["servers"] == [{"url": "/monitoring"}]
    assert set(body["paths"]) == {
        "/health/",
        "/healthz/",
        "/readyz/",
        "/metrics/",
        "/performance/queries/",
        "/performance/cache/",
        "/dashboard/",
        "/alerts/",
        "/alerts/history/",
        "/schema/",
    }
    assert Client().get("/monitoring/schema/", REMOTE_ADDR="203.0.113.9").status_code == 401
