"""Every endpoint fuzzed from the shipped OpenAPI document with schemathesis: no 5xx but the
documented 503s, every response as documented, bad input answered 400, no access without
the token."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

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
        "/schema/",
    }
    assert Client().get("/monitoring/schema/", REMOTE_ADDR="203.0.113.9").status_code == 401
