"""health/ with a database that accepts connections and never answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.conftest import Monitored
from tests.test_health import CALM, get
from tests.test_recording_db import postgres_alias, silent_server


@pytest.fixture
def hung_database(django_db_blocker: Any) -> Iterator[str]:
    # No django_db mark: an alias added at run time is outside any test case's databases.
    with (
        django_db_blocker.unblock(),
        silent_server() as port,
        postgres_alias("hung", PORT=str(port), OPTIONS={"connect_timeout": 4}),
    ):
        try:
            yield "hung"
        finally:
            connections.close_all()  # the probe opened this thread's connections
            for alias in connections:
                if hasattr(connections[alias], "close_pool"):
                    connections[alias].close_pool()


def test_a_hung_database_is_an_error_within_the_deadline(
    monitored: Monitored, settings: Any, hung_database: str
) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        **CALM,
        "HEALTH_DATABASES": ["default", "pg", "mysql", hung_database],
    }
    settings.MONITORING = {**settings.MONITORING, "HEALTH_CHECK_TIMEOUT": 0.5}
    began = time.perf_counter()
    status, body, _ = get("/monitoring/health/")
    took = time.perf_counter() - began
    hung = body["checks"]["database:hung"]
    assert (status, body["status"], hung["status"]) == (503, "error", "error")
    assert hung["duration_ms"] >= 500, hung
    assert "no answer within 0.5 s" in hung["message"]
    assert took < 4  # the probe did not wait for the connection attempt to give up
    assert body["checks"]["database:default"]["status"] == "ok"
    # Probed again while the first attempt still hangs: not started twice, still an error.
    _, again, _ = get("/monitoring/health/")
    assert again["checks"]["database:hung"]["message"].endswith("has not returned")
