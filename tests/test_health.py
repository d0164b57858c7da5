"""health/ and readyz/: every database, cache, disk, memory, the store, the service, and the
site's own checks; deadlines; who sees messages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from monitoring import health, runtime
from monitoring.recording import metrics as m
from tests.conftest import Monitored

DATABASES = ["default", "pg", "mysql"]
pytestmark = pytest.mark.django_db(databases=DATABASES)

OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}
# Thresholds no machine reaches, so that disk and memory pass wherever the tests run.
CALM = {
    "HEALTH_DISK_THRESHOLDS": [100, 100],
    "HEALTH_MEMORY_THRESHOLDS": [100, 100],
    "HEALTH_DATABASES": DATABASES,
}


@pytest.fixture(autouse=True)
def _pools_closed(close_pools: None) -> None:
    """Probes check every alias, pooled ones included."""


@pytest.fixture
def calm(settings: Any, monitored: Monitored) -> None:
    settings.MONITORING = {**settings.MONITORING, **CALM}
    runtime.get_store().beat(health.SERVICE_NAME)


def get(path: str, **extra: Any) -> tuple[int, dict[str, Any], Any]:
    response = Client().get(path, **extra)
    return response.status_code, response.json(), response


def test_health_covers_every_database_cache_and_resource(calm: None) -> None:
    status, body, response = get("/monitoring/health/")
    assert (status, body["status"]) == (200, "ok"), body
    from django.conf import settings

    expected = {f"database:{alias}" for alias in DATABASES}
    expected |= {f"cache:{alias}" for alias in settings.CACHES}
    expected |= {"disk", "memory", "metric_store", "background_service"}
    assert set(body["checks"]) == expected
    for check in body["checks"].values():
        assert check["status"] == "ok" and check["duration_ms"] >= 0
    assert "no-store" in response["Cache-Control"]


def test_messages_are_shown_only_to_authorised_callers(calm: None, settings: Any) -> None:
    settings.MONITORING = {**settings.MONITORING, "HEALTH_DISK_THRESHOLDS": [0.001, 100]}
    _, body, _ = get("/monitoring/health/", **OUTSIDER)
    assert body["checks"]["disk"] == {
        "status": "degraded",
        "duration_ms": pytest.approx(0, abs=1e4),
    }
    _, body, _ = get("/monitoring/health/")  # loopback: allowlisted by default
    assert body["checks"]["disk"]["message"].startswith("disk ")


def test_resource_and_service_failures_degrade_but_never_fail_the_site(
    calm: None, settings: Any
) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        "HEALTH_DISK_THRESHOLDS": [0.001, 0.002],  # past the error threshold
        "COLLECTION_INTERVAL": 1,
    }
    store = runtime.get_store()
    store.beat(health.SERVICE_NAME, at=store.clock() - 10)  # 3 intervals missed
    status, body, _ = get("/monitoring/health/")
    assert (status, body["status"]) == (200, "degraded")
    assert body["checks"]["disk"]["status"] == "error"
    assert body["checks"]["background_service"]["status"] == "degraded"
    assert "10 s ago" in body["checks"]["background_service"]["message"]


def test_a_service_that_never_ran_is_reported(monitored: Monitored, settings: Any) -> None:
    settings.MONITORING = {**settings.MONITORING, **CALM}
    _, body, _ = get("/monitoring/health/")
    assert body["status"] == "degraded"
    assert "run_monitoring" in body["checks"]["background_service"]["message"]


def test_the_sites_own_checks_plug_in(calm: None, settings: Any) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        "HEALTH_CHECKS": [
            "tests.health_checks.payments_api",
            "tests.health_checks.search_index",
            "tests.health_checks.queues",
        ],
    }
    status, body, _ = get("/monitoring/health/")
    checks = body["checks"]
    assert checks["payments_api"]["status"] == "ok"
    assert checks["payments_api"]["message"] == "answered in 12 ms"
    assert checks["search_index"]["status"] == "degraded"
    assert checks["queue:mail"]["status"] == "ok"
    assert checks["queue:thumbnails"]["status"] == "error"
    assert "ConnectionError: broker" in checks["queue:thumbnails"]["message"]
    assert (status, body["status"]) == (503, "error")  # the site's own checks are critical


def test_readyz_asks_the_default_database_and_cache(monitored: Monitored) -> None:
    status, body, response = get("/monitoring/readyz/", **OUTSIDER)
    assert (status, body["status"]) == (200, "ok")
    assert set(body["checks"]) == {"database:default", "cache:default"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_fails_when_the_default_cache_is_down(monitored: Monitored, settings: Any) -> None:
    from tests.servers import free_port

    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": f"127.0.0.1:{free_port()}",
            "OPTIONS": {"connect_timeout": 1, "timeout": 1},
        },
    }
    status, body, _ = get("/monitoring/readyz/", **OUTSIDER)
    assert (status, body["status"]) == (503, "error")
    assert body["checks"]["cache:default"]["status"] == "error"
    assert "message" not in body["checks"]["cache:default"]


def test_probes_are_not_recorded_as_the_sites_traffic(calm: None, monitored: Monitored) -> None:
    for path in ("/monitoring/health/", "/monitoring/readyz/", "/monitoring/healthz/"):
        Client().get(path)
    window = monitored.window()
    assert window.total(m.REQUESTS) == 0
    assert window.histogram(m.QUERY_DURATION) is None
    assert window.total(m.CACHE_GETS) == 0


def test_every_database_alias_is_checked_unless_told_otherwise(settings: Any) -> None:
    from django.db import connections

    settings.MONITORING = {"STORE_URL": "memory://"}
    assert set(health.database_checks()) == {f"database:{alias}" for alias in connections}
    settings.MONITORING = {"STORE_URL": "memory://", "HEALTH_DATABASES": ["pg"]}
    assert set(health.database_checks()) == {"database:pg"}
