"""performance/queries/ and performance/cache/ on the example shop's real views."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from shop.models import Product
from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def shop(request: pytest.FixtureRequest) -> Iterator[list[int]]:
    cache.clear()
    call_command("seed_shop", stdout=io.StringIO())
    request.getfixturevalue("monitored")  # recording starts after the seeding
    yield list(Product.objects.order_by("pk").values_list("pk", flat=True)[:3])
    cache.clear()


def get(path: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    response = Client().get(path, **extra)
    assert "no-store" in response["Cache-Control"]
    return response.status_code, response.json()


def test_queries_by_fingerprint_with_routes_and_no_literal_values(
    shop: list[int], settings: Any
) -> None:
    for pk in shop:
        assert Client().get(f"/products/{pk}/").status_code == 200
    for _ in range(2):
        assert Client().get("/products/n-plus-one/").status_code == 200
    status, body = get("/monitoring/performance/queries/?window=5m")
    assert status == 200
    rows = body["queries"]
    assert body["fingerprints"] == len(rows) > 0
    detail = [r for r in rows if any(x["route"] == "/products/<int:pk>/" for x in r["routes"])]
    assert detail, rows
    for row in rows:
        # A percentile is within the sketch's 1% of a real duration (so of the total too),
        # both rounded to the microsecond.
        assert row["count"] > 0 and row["total_ms"] * 1.01 + 0.002 >= row["p50_ms"] >= 0
        assert row["operation"] == "select" and row["alias"] == "default"
        for pk in shop:  # the primary keys the views looked up appear nowhere
            assert f"= {pk}" not in row["sql"] and f"({pk})" not in row["sql"]
    assert [r["total_ms"] for r in rows] == sorted((r["total_ms"] for r in rows), reverse=True)
    suspects = body["n_plus_one"]
    assert {s["route"] for s in suspects} == {"/products/n-plus-one/"}
    assert suspects[0]["requests"] == 2 and suspects[0]["max_repetitions"] >= 5
    assert "shop_category" in suspects[0]["sql"]
    per_request = {r["route"]: r for r in body["queries_per_request"]}
    assert per_request["/products/n-plus-one/"]["requests"] == 2
    assert (
        per_request["/products/n-plus-one/"]["mean"] > per_request["/products/<int:pk>/"]["mean"]
    )


def test_slow_queries_are_listed_slowest_first(shop: list[int], settings: Any) -> None:
    settings.MONITORING = {**settings.MONITORING, "SLOW_QUERY_MS": 0.000001}
    Client().get(f"/products/{shop[0]}/")
    _, body = get("/monitoring/performance/queries/?limit=3&sort=count")
    slow = body["slow_queries"]
    assert 0 < len(slow) <= 3
    assert [q["duration_ms"] for q in slow] == sorted(
        (q["duration_ms"] for q in slow), reverse=True
    )
    assert all(q["route"] == "/products/<int:pk>/" and q["sql"] for q in slow)
    assert len(body["queries"]) <= 3
    assert [r["count"] for r in body["queries"]] == sorted(
        (r["count"] for r in body["queries"]), reverse=True
    )


def test_cache_hit_rates_by_alias_prefix_and_route(shop: list[int]) -> None:
    for pk in shop:
        Client().get(f"/products/{pk}/cached/")  # miss, then set
        Client().get(f"/products/{pk}/cached/")  # hit
        Client().get(f"/products/{pk}/cached/")  # hit
    status, body = get("/monitoring/performance/cache/?window=5m")
    assert status == 200
    assert body["overall"] == {"hits": 6, "misses": 3, "hit_rate": pytest.approx(6 / 9, abs=1e-6)}
    (default,) = [c for c in body["caches"] if c["cache"] == "default"]
    assert (default["hits"], default["misses"]) == (6, 3)
    assert default["operations"]["get"]["count"] == 9
    assert default["operations"]["set"]["count"] == 3
    assert default["operations"]["get"]["p95_ms"] >= default["operations"]["get"]["p50_ms"] >= 0
    prefixes = {(p["cache"], p["prefix"]): p for p in body["prefixes"]}
    assert prefixes["default", "product"]["hits"] == 6
    routes = {r["route"]: r for r in body["routes"]}
    assert routes["/products/<int:pk>/cached/"]["misses"] == 3


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/monitoring/performance/queries/?limit=0", "limit"),
        ("/monitoring/performance/queries/?limit=5000", "limit"),
        ("/monitoring/performance/queries/?limit=ten", "limit"),
        ("/monitoring/performance/queries/?sort=fastest", "sort"),
        ("/monitoring/performance/queries/?window=3y", "window"),
        ("/monitoring/performance/cache/?limit=-1", "limit"),
        ("/monitoring/performance/cache/?window=0m", "window"),
        ("/monitoring/performance/cache/?windw=1h", "windw"),  # misspelt: not ignored
        ("/monitoring/dashboard/?limit=5", "limit"),
        ("/monitoring/metrics/?sort=count", "sort"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    monitored: Monitored, path: str, parameter: str
) -> None:
    status, body = get(path)
    assert status == 400 and body["parameter"] == parameter and body["error"]


@pytest.mark.parametrize(
    "path", ["/monitoring/performance/queries/", "/monitoring/performance/cache/"]
)
def test_outsiders_get_401(monitored: Monitored, path: str) -> None:
    response = Client().get(path, **OUTSIDER)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
