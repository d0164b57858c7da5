"""Request recording: route patterns, statuses, exceptions, exclusions, sync and async."""

from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient, Client, override_settings

from monitoring.recording import metrics as m
from tests.conftest import Monitored

pytestmark = pytest.mark.django_db


def requests_by_key(window) -> dict[tuple[str, ...], float]:  # type: ignore[no-untyped-def]
    return {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in window.series(m.REQUESTS)
    }


def test_requests_are_recorded_by_route_pattern_never_the_raw_path(monitored: Monitored) -> None:
    client = Client()
    for pk in (1, 2, 3):
        assert client.get(f"/t/items/{pk}/").status_code == 200
    client.post("/t/items/9/")
    client.get("/t/legacy/2024/")
    counts = requests_by_key(monitored.window())
    assert counts == {
        ("GET", "/t/items/<int:pk>/", "200"): 3,
        ("POST", "/t/items/<int:pk>/", "200"): 1,
        ("GET", "/t/legacy/(?P<year>[0-9]{4})/$", "200"): 1,
    }


def test_unmatched_paths_share_one_route(monitored: Monitored) -> None:
    client = Client()
    for path in ("/nothing/here/", "/t/items/not-a-number/", "/wp-login.php"):
        assert client.get(path).status_code == 404
    assert requests_by_key(monitored.window()) == {("GET", "<unmatched>", "404"): 3}


def test_status_codes_and_unhandled_exceptions(monitored: Monitored) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/t/boom/").status_code == 500
    assert client.get("/t/status/503/").status_code == 503
    assert client.get("/t/status/302/").status_code == 302
    window = monitored.window()
    assert requests_by_key(window) == {
        ("GET", "/t/boom/", "500"): 1,
        ("GET", "/t/status/<int:code>/", "503"): 1,
        ("GET", "/t/status/<int:code>/", "302"): 1,
    }
    assert dict(
        ((labels["route"], labels["exception"]), value)
        for labels, value in window.series(m.EXCEPTIONS)
    ) == {("/t/boom/", "ValueError"): 1}


def test_durations_are_recorded_per_method_and_route(monitored: Monitored) -> None:
    client = Client()
    for _ in range(4):
        client.get("/t/plain/")
    hist = monitored.window().histogram(m.REQUEST_DURATION, method="GET", route="/t/plain/")
    assert hist is not None and hist.count == 4
    assert 0 < hist.sum < 10
    assert 0 < hist.quantile(0.5) <= hist.quantile(0.99)  # type: ignore[operator]


def test_queries_per_request(monitored: Monitored) -> None:
    client = Client()
    client.get("/t/queries/3/")
    client.get("/t/queries/0/")
    hist = monitored.window().histogram(m.QUERIES_PER_REQUEST, route="/t/queries/<int:n>/")
    assert hist is not None
    assert (hist.count, hist.sum) == (2, 3)


def test_monitoring_endpoints_are_not_recorded(monitored: Monitored) -> None:
    client = Client()
    client.get("/monitoring/healthz/")
    client.get("/monitoring/metrics/")
    client.get("/monitoring/metrics/?format=prometheus")
    window = monitored.window()
    assert requests_by_key(window) == {}
    assert window.histogram(m.QUERY_DURATION) is None


@override_settings(MONITORING={"EXCLUDE_PATHS": [r"^/t/plain/$", r"^/t/status/"]})
def test_excluded_paths_are_not_recorded(monitored: Monitored) -> None:
    client = Client()
    client.get("/t/plain/")
    client.get("/t/status/201/")
    client.get("/t/items/1/")
    assert requests_by_key(monitored.window()) == {("GET", "/t/items/<int:pk>/", "200"): 1}


@pytest.mark.django_db(transaction=True)
def test_concurrent_async_requests_keep_their_own_state(monitored: Monitored) -> None:
    """Interleaved async requests each count only their own queries (contextvars)."""

    async def run() -> list[int]:
        client = AsyncClient()
        sizes = [1, 2, 3, 4, 5, 6, 7, 8] * 2
        responses = await asyncio.gather(*(client.get(f"/t/async/{n}/") for n in sizes))
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200] * 16
    hist = monitored.window().histogram(m.QUERIES_PER_REQUEST, route="/t/async/<int:n>/")
    assert hist is not None
    assert (hist.count, hist.sum) == (16, 2 * sum(range(1, 9)))
    # Every request's own count was exact: the per-request maxima can only be 8.
    assert hist.counts[-1] == 0


@pytest.mark.django_db(transaction=True)
def test_async_exception_and_status(monitored: Monitored) -> None:
    async def run() -> tuple[int, int]:
        client = AsyncClient(raise_request_exception=False)
        return (await client.get("/t/boom/")).status_code, (await client.get("/nope/")).status_code

    assert asyncio.run(run()) == (500, 404)
    window = monitored.window()
    assert requests_by_key(window) == {
        ("GET", "/t/boom/", "500"): 1,
        ("GET", "<unmatched>", "404"): 1,
    }
    assert window.total(m.EXCEPTIONS, exception="ValueError") == 1


def test_unknown_methods_are_folded(monitored: Monitored) -> None:
    Client().generic("BREW", "/t/plain/")
    assert requests_by_key(monitored.window()) == {("other", "/t/plain/", "200"): 1}
