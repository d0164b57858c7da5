"""The shop's views: each one shows monitoring a different kind of endpoint.

They answer JSON so that the traffic generator and the tests can read them easily.
"""

import random
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Avg, Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404

from shop.models import Category, Product, Review

# Short timeouts keep the demo producing misses as well as hits.
PRODUCT_CACHE_SECONDS = 30
PROFILE_CACHE_SECONDS = 60
RECENT_CACHE_SECONDS = 20

LIST_LIMIT = 100
N_PLUS_ONE_SIZE = 20


def _product_summary(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "name": product.name,
        "category": product.category.name,
        "price": str(product.price),
    }


def _product_detail(product: Product) -> dict[str, Any]:
    reviews = product.reviews.order_by("-pk").values("rating", "body")[:10]
    return {**_product_summary(product), "stock": product.stock, "reviews": list(reviews)}


def product_list(request: HttpRequest) -> JsonResponse:
    """The catalogue: products with their category (one join), a count and the mean rating."""
    products = Product.objects.select_related("category").order_by("category__name", "name")
    ratings = Review.objects.aggregate(average=Avg("rating"), reviews=Count("pk"))
    average = ratings["average"]
    return JsonResponse(
        {
            "count": Product.objects.count(),
            "reviews": ratings["reviews"],
            "average_rating": round(average, 2) if average is not None else None,
            "products": [_product_summary(p) for p in products[:LIST_LIMIT]],
        }
    )


def product_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """One product with its latest reviews; 404 when it does not exist.

    ``SHOP_PRODUCT_DELAY_MS`` (setting or environment variable) slows it down on purpose,
    to see a regression against a baseline (README, "Baselines").
    """
    delay = float(getattr(settings, "SHOP_PRODUCT_DELAY_MS", 0) or 0)
    if delay > 0:
        time.sleep(delay / 1000)
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    return JsonResponse(_product_detail(product))


def product_n_plus_one(request: HttpRequest) -> JsonResponse:
    """A deliberate N+1: no select_related, so each product costs one more category query."""
    products = Product.objects.order_by("pk")[:N_PLUS_ONE_SIZE]
    rows = [{"id": p.pk, "name": p.name, "category": p.category.name} for p in products]
    return JsonResponse({"products": rows})


def product_cached(request: HttpRequest, pk: int) -> JsonResponse:
    """The product detail behind the cache key ``product:<pk>`` (get, then set on a miss)."""
    key = f"product:{pk}"
    data = cache.get(key)
    hit = data is not None
    if data is None:
        product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
        data = _product_detail(product)
        cache.set(key, data, PRODUCT_CACHE_SECONDS)
    return JsonResponse({**data, "cache": "hit" if hit else "miss"})


def _build_profile(user_id: int) -> dict[str, Any]:
    # The customers are fictional: a stable favourite category derived from the id makes a
    # cache miss cost a real query.
    names = list(Category.objects.order_by("pk").values_list("name", flat=True))
    favourite = names[user_id % len(names)] if names else None
    return {"id": user_id, "name": f"Customer {user_id}", "favourite_category": favourite}


def _recent_products(user_id: int) -> list[dict[str, Any]]:
    offset = user_id % N_PLUS_ONE_SIZE
    return list(Product.objects.order_by("-pk").values("id", "name")[offset : offset + 5])


def user_profile(request: HttpRequest, user_id: int) -> JsonResponse:
    """A customer's profile (``user:<id>``) and recently viewed products (``user:<id>:recent``)."""
    profile = cache.get_or_set(
        f"user:{user_id}", lambda: _build_profile(user_id), PROFILE_CACHE_SECONDS
    )
    # get_many/set_many on purpose, so that the demo also exercises the multi-key cache API.
    recent_key = f"user:{user_id}:recent"
    recent = cache.get_many([recent_key]).get(recent_key)
    if recent is None:
        recent = _recent_products(user_id)
        cache.set_many({recent_key: recent}, RECENT_CACHE_SECONDS)
    return JsonResponse({"profile": profile, "recent_products": recent})


def error(request: HttpRequest) -> HttpResponse:
    """Always fails with an unhandled exception, which Django turns into a 500."""
    raise RuntimeError("Deliberate failure from the example shop's error/ view")


def slow(request: HttpRequest) -> JsonResponse:
    """A slow endpoint: waits 0.2 to 0.8 s, then runs one query."""
    delay = random.uniform(0.2, 0.8)
    time.sleep(delay)
    return JsonResponse({"slept_seconds": round(delay, 3), "products": Product.objects.count()})


async def async_product_list(request: HttpRequest) -> JsonResponse:
    """The first products and the total, read with the async ORM."""
    total = await Product.objects.acount()
    products = [{"id": p.pk, "name": p.name} async for p in Product.objects.order_by("pk")[:10]]
    return JsonResponse({"count": total, "products": products})


def health(request: HttpRequest) -> HttpResponse:
    """A trivial endpoint for benchmarks: no query, no cache."""
    return HttpResponse("ok", content_type="text/plain")
