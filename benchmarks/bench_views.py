"""A benchmark-only view: exactly 5 ORM queries and 4 cache operations per request.

The cache sequence is the same on every request -- ``get`` (miss), ``set``, ``get`` (hit),
``delete`` -- so each request does the same work; the harness checks the counts.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import Avg, Count
from django.http import HttpRequest, JsonResponse

from shop.models import Category, Product, Review

CACHE_SECONDS = 60


def five_queries_four_cache_ops(request: HttpRequest, pk: int) -> JsonResponse:
    key = f"bench:product:{pk}"
    before = cache.get(key)  # cache op 1: a miss (op 4 deleted it)
    product = Product.objects.select_related("category").get(pk=pk)  # query 1
    reviews = list(product.reviews.values("rating", "body")[:10])  # query 2
    related = list(  # query 3
        Product.objects.filter(category_id=product.category_id)
        .exclude(pk=pk)
        .values_list("name", flat=True)[:5]
    )
    ratings = Review.objects.filter(product=product).aggregate(  # query 4
        average=Avg("rating"), count=Count("pk")
    )
    categories = Category.objects.count()  # query 5
    data = {
        "id": product.pk,
        "name": product.name,
        "category": product.category.name,
        "price": str(product.price),
        "reviews": reviews,
        "related": related,
        "ratings": ratings,
        "categories": categories,
    }
    cache.set(key, data, CACHE_SECONDS)  # cache op 2
    after = cache.get(key)  # cache op 3: a hit
    cache.delete(key)  # cache op 4
    return JsonResponse({**data, "was_cached": before is not None, "cached": after is not None})
