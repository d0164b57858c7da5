"""The example shop: seeding, every view's status and behaviour, and the traffic generator.

Nothing here is about monitoring itself: these tests keep the demo site honest.
"""

import io
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.signals import request_started
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop.management.commands.generate_traffic import ensure_loopback
from shop.models import Category, Product, Review


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_shop", *args, stdout=out)
    return out.getvalue()


def shop_queries(ctx: CaptureQueriesContext) -> list[str]:
    """The captured SQL that touches the shop's tables (and not, say, sessions)."""
    return [q["sql"] for q in ctx.captured_queries if '"shop_' in q["sql"]]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # The views cache by key; a value left by another test would turn a miss into a hit.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def product(db: None) -> Product:
    seed()
    return Product.objects.order_by("pk").first()


def test_seed_shop_creates_the_catalogue_once(db: None) -> None:
    assert "Seeded 8 categories, 60 products, 180 reviews" in seed()
    first_pks = set(Product.objects.values_list("pk", flat=True))

    assert "already seeded" in seed()
    assert (Category.objects.count(), Product.objects.count(), Review.objects.count()) == (
        8,
        60,
        180,
    )
    assert set(Product.objects.values_list("pk", flat=True)) == first_pks
    assert Product.objects.annotate(n=Count("reviews")).filter(n=3).count() == 60


def test_seed_shop_reset_recreates_the_catalogue(db: None) -> None:
    seed()
    first_pks = set(Product.objects.values_list("pk", flat=True))

    out = seed("--reset")

    assert "Deleted the existing catalogue" in out
    assert Product.objects.count() == 60 and Review.objects.count() == 180
    assert first_pks.isdisjoint(Product.objects.values_list("pk", flat=True))


@pytest.mark.parametrize(
    ("name", "kwargs", "path"),
    [
        ("product-list", {}, "/products/"),
        ("product-detail", {"pk": 7}, "/products/7/"),
        ("product-n-plus-one", {}, "/products/n-plus-one/"),
        ("product-cached", {"pk": 7}, "/products/7/cached/"),
        ("user-profile", {"user_id": 3}, "/users/3/profile/"),
        ("error", {}, "/error/"),
        ("slow", {}, "/slow/"),
        ("async-product-list", {}, "/async/products/"),
        ("health", {}, "/health-of-shop/"),
    ],
)
def test_url_patterns(name: str, kwargs: dict[str, int], path: str) -> None:
    assert reverse(f"shop:{name}", kwargs=kwargs) == path


def test_product_list(client: Client, product: Product) -> None:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/products/")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 60 and len(data["products"]) == 60
    assert data["reviews"] == 180 and 1 <= data["average_rating"] <= 5
    # The list joins its categories: three queries in all (list, count, aggregate).
    queries = shop_queries(ctx)
    assert len(queries) == 3
    assert any("JOIN" in sql and '"shop_category"' in sql for sql in queries)


def test_product_detail(client: Client, product: Product) -> None:
    response = client.get(f"/products/{product.pk}/")

    assert response.status_code == 200
    data = response.json()
    assert data["id"] == product.pk and data["name"] == product.name
    assert len(data["reviews"]) == 3


def test_product_detail_of_a_missing_product_is_404(client: Client, product: Product) -> None:
    assert client.get("/products/999999/").status_code == 404


def test_n_plus_one_repeats_the_category_query(client: Client, product: Product) -> None:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/products/n-plus-one/")

    assert response.status_code == 200
    assert len(response.json()["products"]) == 20
    category_queries = [q for q in shop_queries(ctx) if 'FROM "shop_category"' in q]
    assert len(category_queries) == 20


def test_cached_product_misses_then_hits(client: Client, product: Product) -> None:
    url = f"/products/{product.pk}/cached/"
    first = client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        second = client.get(url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["cache"], second.json()["cache"]) == ("miss", "hit")
    assert second.json()["name"] == product.name
    assert cache.get(f"product:{product.pk}") is not None
    assert shop_queries(ctx) == []


def test_cached_product_missing_is_404_and_not_cached(client: Client, product: Product) -> None:
    assert client.get("/products/999999/cached/").status_code == 404
    assert cache.get("product:999999") is None


def test_user_profile_is_cached_by_user_keys(client: Client, product: Product) -> None:
    first = client.get("/users/7/profile/")
    with CaptureQueriesContext(connection) as ctx:
        second = client.get("/users/7/profile/")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert first.json()["profile"]["id"] == 7 and len(first.json()["recent_products"]) == 5
    assert cache.get("user:7") is not None and cache.get("user:7:recent") is not None
    assert shop_queries(ctx) == []


def test_error_view_is_a_500(db: None) -> None:
    response = Client(raise_request_exception=False).get("/error/")

    assert response.status_code == 500


def test_slow_view_sleeps_then_queries(client: Client, product: Product) -> None:
    started = time.monotonic()
    response = client.get("/slow/")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    data = response.json()
    assert 0.2 <= data["slept_seconds"] <= 0.8 and elapsed >= 0.2
    assert data["products"] == 60


def test_async_view_uses_the_async_orm(client: Client, product: Product) -> None:
    response = client.get("/async/products/")

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 60 and len(data["products"]) == 10


def test_health_of_shop_is_trivial(client: Client, db: None) -> None:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/health-of-shop/")

    assert response.status_code == 200 and response.content == b"ok"
    assert shop_queries(ctx) == []


def test_unknown_path_is_404(client: Client, db: None) -> None:
    assert client.get("/no-such-page/").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://10.0.0.1:8000",
        "https://192.168.1.10/",
        "http://[2001:db8::1]:8000",
        "http://localhost.example.com",
        "http://0.0.0.0:8000",
        "ftp://127.0.0.1",
    ],
)
def test_generate_traffic_refuses_non_loopback_urls(url: str) -> None:
    with pytest.raises(CommandError):
        call_command("generate_traffic", "--base-url", url, "--requests", "1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.1.2.3", "http://127.1.2.3"),
        ("http://LOCALHOST:9", "http://LOCALHOST:9"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_loopback_urls_are_accepted(url: str, expected: str) -> None:
    assert ensure_loopback(url) == expected


def _summary(output: str) -> tuple[int, dict[str, int]]:
    match = re.search(r"^Sent (\d+) requests .*by status: (.*)$", output, re.MULTILINE)
    assert match, output
    counts = {k: int(v) for k, v in (part.split(": ") for part in match[2].split(", "))}
    return int(match[1]), counts


@pytest.mark.django_db(transaction=True)
def test_generate_traffic_sends_exactly_the_requested_count(live_server: Any) -> None:
    seed()
    started: list[str] = []
    lock = threading.Lock()

    def on_request_started(sender: Any, environ: dict[str, Any], **kwargs: Any) -> None:
        with lock:
            started.append(environ["PATH_INFO"])

    # request_started fires in the server before the response exists, so every request the
    # command got an answer for has been counted by the time the command returns.
    request_started.connect(on_request_started, dispatch_uid="test-generate-traffic")
    out = io.StringIO()
    try:
        call_command(
            "generate_traffic",
            "--base-url",
            live_server.url,
            "--requests",
            "30",
            "--concurrency",
            "3",
            stdout=out,
        )
    finally:
        request_started.disconnect(dispatch_uid="test-generate-traffic")

    total, counts = _summary(out.getvalue())
    assert total == 30 and sum(counts.values()) == 30
    assert "error" not in counts  # the server answered every one
    assert len(started) == 30
    assert started[0] == "/products/"  # the first request learns the product ids


@pytest.fixture
def unused_port() -> int:
    """A loopback port that nothing listens on (bound, read, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_generate_traffic_counts_connection_errors(unused_port: int) -> None:
    out = io.StringIO()
    call_command(
        "generate_traffic",
        "--base-url",
        f"http://127.0.0.1:{unused_port}",
        "--requests",
        "5",
        "--concurrency",
        "2",
        stdout=out,
    )

    assert _summary(out.getvalue()) == (5, {"error": 5})


def test_product_list_reports_every_id(client: Client, product: Product) -> None:
    # generate_traffic reads the product ids it requests from this list.
    ids = {p["id"] for p in json.loads(client.get("/products/").content)["products"]}

    assert ids == set(Product.objects.values_list("pk", flat=True))
