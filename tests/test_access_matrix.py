"""Every endpoint against every kind of caller: anonymous, wrong token, right token, staff,
allowlisted address."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-token-for-tests-only"
OUTSIDER = "203.0.113.9"
PROTECTED = [
    "/monitoring/metrics/",
    "/monitoring/metrics/?format=prometheus",
    "/monitoring/performance/queries/",
    "/monitoring/performance/cache/",
    "/monitoring/dashboard/",
    "/monitoring/alerts/",
    "/monitoring/alerts/?history=1",
    "/monitoring/alerts/history/",
]
OPEN = ["/monitoring/health/", "/monitoring/healthz/", "/monitoring/readyz/"]


def caller(kind: str) -> tuple[Client, dict[str, str]]:
    client = Client()
    if kind == "staff":
        client.force_login(User.objects.create_user("staff", is_staff=True))
    if kind == "user":
        client.force_login(User.objects.create_user("user"))
    headers = {
        "anonymous": {"REMOTE_ADDR": OUTSIDER},
        "user": {"REMOTE_ADDR": OUTSIDER},
        "wrong token": {"REMOTE_ADDR": OUTSIDER, "HTTP_AUTHORIZATION": "Bearer not-the-token"},
        "right token": {"REMOTE_ADDR": OUTSIDER, "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"},
        "staff": {"REMOTE_ADDR": OUTSIDER},
        "allowlisted": {"REMOTE_ADDR": "10.1.2.3"},
    }[kind]
    return client, headers


@pytest.fixture
def configured(monitored: Monitored, settings: Any, close_pools: None) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        "TOKEN": TOKEN,
        "ALLOWED_IPS": ["10.1.0.0/16"],
        "HEALTH_DISK_THRESHOLDS": [100, 100],
        "HEALTH_MEMORY_THRESHOLDS": [100, 100],
        "HEALTH_DATABASES": ["default"],
    }


KINDS = ["anonymous", "user", "wrong token", "right token", "staff", "allowlisted"]
ALLOWED = {"right token", "staff", "allowlisted"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", PROTECTED)
def test_protected_endpoints(configured: None, path: str, kind: str) -> None:
    client, headers = caller(kind)
    response = client.get(path, **headers)
    if kind in ALLOWED:
        assert response.status_code == 200, response.content
    else:
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="monitoring"'
        assert response.json() == {"error": "authentication required"}  # and nothing else


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path", OPEN)
def test_probes_answer_everyone(configured: None, path: str, kind: str) -> None:
    client, headers = caller(kind)
    response = client.get(path, **headers)
    assert response.status_code in (200, 503)
    if path == "/monitoring/health/":
        messages = [c for c in response.json()["checks"].values() if "message" in c]
        assert bool(messages) == (kind in ALLOWED)  # the disk check always says its usage
