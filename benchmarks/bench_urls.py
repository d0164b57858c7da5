"""URLs of the benchmark site: the example shop, the benchmark view, both metrics endpoints."""

import bench_views
from django.urls import include, path

urlpatterns = [
    path(
        "bench/5-queries-4-cache-ops/<int:pk>/",
        bench_views.five_queries_four_cache_ops,
        name="bench-5q4c",
    ),
    path("", include("shop.urls")),
    # Both libraries' endpoints, wired as their READMEs say (not requested by the benchmark).
    path("monitoring/", include("monitoring.urls")),
    path("", include("django_prometheus.urls")),
]
