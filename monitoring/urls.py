from django.urls import path

from . import views

app_name = "monitoring"

urlpatterns = [
    # The page for people; at the include's root too, where a browser lands first.
    path("", views.page, name="index"),
    path("ui/", views.page, name="ui"),
    path("health/", views.health_view, name="health"),
    path("healthz/", views.healthz, name="healthz"),
    path("readyz/", views.readyz, name="readyz"),
    path("metrics/", views.metrics, name="metrics"),
    path("performance/queries/", views.performance_queries, name="performance-queries"),
    path("performance/cache/", views.performance_cache, name="performance-cache"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/history/", views.alerts_history, name="alerts-history"),
    path("schema/", views.schema, name="schema"),
]
