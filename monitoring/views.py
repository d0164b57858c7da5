"""The HTTP endpoints: thin wrappers that validate parameters, call a service, render."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache, wraps
from importlib.resources import files
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import config, health, runtime, ui
from .access import is_authorised
from .alerts import queries as alert_queries
from .alerts.gauges import alert_families
from .baselines import active_baseline
from .dashboard import dashboard as dashboard_document
from .dashboard import health_score
from .exposition import gauge, render, wants_openmetrics, with_zero_connection_errors
from .params import (
    BadParameter,
    bounded_int,
    choice,
    datetime_param,
    only,
    optional_choice,
    text,
    window_seconds,
)
from .performance import QUERY_SORTS, cache_report, queries_report
from .recording.safety import report_internal_error
from .summary import summarise
from .system import live_families
from .window import Window

View = Callable[..., HttpResponse]

HEALTH_HELP = "Health of the site over the last 5 minutes, 0 (down) to 100 (healthy)."
SERVICE_HELP = (
    "When the background service last completed a cycle that evaluated the alert rules "
    "(epoch seconds; absent before the first)."
)
HISTORY_PARAMETERS = ("page", "per_page", "rule", "state", "severity", "since")


class StoreUnreadable(Exception):
    """The metric store (or the alert tables) failed while a protected endpoint read it
    (answered 503, counted as an internal error of ``kind``)."""

    def __init__(self, kind: str = "store", what: str = "the metric store") -> None:
        self.kind = kind
        self.message = f"{what} cannot be read"
        super().__init__(self.message)


@contextmanager
def reading_store(kind: str = "store", what: str = "the metric store") -> Iterator[None]:
    """Turn any failure of the store inside the block into :class:`StoreUnreadable`."""
    try:
        yield
    except Exception as exc:
        raise StoreUnreadable(kind, what) from exc


def reading_alerts() -> AbstractContextManager[None]:
    """:func:`reading_store` for the alert tables in the database."""
    return reading_store("alerts", "the alert tables")


def protected(view: View) -> View:
    """Refuse callers without a token, a staff session or an allowed address; answer 400
    for a bad parameter and 503 when the store cannot be read."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_authorised(request):
            response = JsonResponse({"error": "authentication required"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="monitoring"'
            return response
        try:
            return view(request, *args, **kwargs)
        except BadParameter as exc:
            return JsonResponse({"error": exc.message, "parameter": exc.parameter}, status=400)
        except StoreUnreadable as exc:
            report_internal_error(exc.kind, exc.__cause__ or exc)
            return JsonResponse({"error": exc.message}, status=503)

    return wrapper


@never_cache
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """The dashboard page for people (HTML). The unauthorised are sent to the admin login
    (or answered 401) and see nothing of it."""
    if not is_authorised(request):
        return ui.refusal(request)
    return ui.render_page(request)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process serves requests. Touches no dependency."""
    return HttpResponse("ok", content_type="text/plain")


def _health_response(results: dict[str, health.Result], request: HttpRequest) -> HttpResponse:
    document = health.report(results, with_messages=is_authorised(request))
    return JsonResponse(document, status=503 if document["status"] == health.ERROR else 200)


@never_cache
@require_GET
def health_view(request: HttpRequest) -> HttpResponse:
    """Every health check: 200 while ok or degraded, 503 on error. Messages only to the
    authorised."""
    return _health_response(health.run_checks(health.all_checks()), request)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the default database and the default cache answer, else 503."""
    return _health_response(health.run_checks(health.readiness_checks()), request)


@never_cache
@require_GET
@protected
def metrics(request: HttpRequest) -> HttpResponse:
    """JSON summary, or Prometheus / OpenMetrics text with ``?format=`` or Accept."""
    only(request.GET, "window", "format")
    default = "openmetrics" if wants_openmetrics(request.headers.get("Accept", "")) else "json"
    fmt = choice(request.GET, "format", ("json", "prometheus", "openmetrics"), default)
    store = runtime.get_store()
    # Validated for every format (only the JSON summary uses it).
    seconds = window_seconds(request.GET, store.retention_seconds)
    runtime.flush()
    with reading_store():
        if fmt == "json":
            return JsonResponse(summarise(store.read_window(seconds)))
        totals = store.read_totals()
        # The fleet's health over the last 5 minutes (monitoring.dashboard.health_score);
        # the same window names the statements of the slow-query series (totals keep no SQL).
        recent = store.read_window(min(300, store.retention_seconds))
        score = health_score(recent)
        last_cycle = store.last_beat(health.SERVICE_NAME)
    extra = [
        *live_families(),
        gauge("monitoring_health_score", HEALTH_HELP, (), [((), score)]),
        gauge(
            "monitoring_service_last_cycle_timestamp_seconds",
            SERVICE_HELP,
            (),
            [] if last_cycle is None else [((), last_cycle)],
        ),
    ]
    try:
        extra += alert_families()
    except Exception as exc:
        # The alert tables cannot be read: the metrics are still worth scraping.
        report_internal_error("alerts", exc)
    aliases = [a for a in settings.DATABASES if a not in config.get_config()["EXCLUDE_DATABASES"]]
    body, content_type = render(
        with_zero_connection_errors(totals, aliases),
        extra,
        openmetrics_format=fmt == "openmetrics",
        statements=recent.data.statements,
        top_fingerprints=config.get_config()["PROMETHEUS_TOP_FINGERPRINTS"],
    )
    return HttpResponse(body, content_type=content_type)


def _window(request: HttpRequest) -> Window:
    """The store's window named by ``?window=``, after flushing this process."""
    store = runtime.get_store()
    seconds = window_seconds(request.GET, store.retention_seconds)
    runtime.flush()
    with reading_store():
        return store.read_window(seconds)


@never_cache
@require_GET
@protected
def performance_queries(request: HttpRequest) -> HttpResponse:
    """Statements by fingerprint, slow queries, N+1 suspects, queries per request."""
    only(request.GET, "window", "limit", "sort")
    limit = bounded_int(request.GET, "limit", 50, 1, 1000)
    sort = choice(request.GET, "sort", tuple(QUERY_SORTS), "total")
    return JsonResponse(queries_report(_window(request), limit, sort))


@never_cache
@require_GET
@protected
def performance_cache(request: HttpRequest) -> HttpResponse:
    """Hit rates overall, per cache alias, key prefix and route; operation times."""
    only(request.GET, "window", "limit")
    limit = bounded_int(request.GET, "limit", 50, 1, 1000)
    return JsonResponse(cache_report(_window(request), limit))


@never_cache
@require_GET
@protected
def dashboard(request: HttpRequest) -> HttpResponse:
    """Summary, time series, endpoint table with ratings, system, health score, alerts."""
    only(request.GET, "window")
    store = runtime.get_store()
    seconds = window_seconds(request.GET, store.retention_seconds)
    runtime.flush()
    with reading_alerts():
        # Alerts are evaluated by the background service; none is active before it runs.
        alerts = alert_queries.active_alerts()
        baseline = active_baseline()
    with reading_store():
        document = dashboard_document(store, seconds, active_alerts=alerts, baseline=baseline)
    return JsonResponse(document)


def _history(request: HttpRequest) -> HttpResponse:
    """The page of alert history the query asks for."""
    query = request.GET
    page = bounded_int(query, "page", 1, 1, 1_000_000)
    per_page = bounded_int(query, "per_page", 50, 1, 200)
    rule = text(query, "rule", 100)
    state = optional_choice(query, "state", alert_queries.HISTORY_STATES)
    severity = optional_choice(query, "severity", alert_queries.SEVERITIES)
    since = datetime_param(query, "since")
    with reading_alerts():
        document = alert_queries.history_page(page, per_page, rule, state, severity, since)
    return JsonResponse(document)


@never_cache
@require_GET
@protected
def alerts(request: HttpRequest) -> HttpResponse:
    """Active alerts, silences and firing counts; the history with ``?history=1``."""
    only(request.GET, "history", *HISTORY_PARAMETERS)
    if choice(request.GET, "history", ("0", "1"), "0") == "1":
        return _history(request)
    for name in HISTORY_PARAMETERS:
        if name in request.GET:
            raise BadParameter(name, f"{name} applies to the history only (with history=1)")
    with reading_alerts():
        document = alert_queries.overview()
    return JsonResponse(document)


@never_cache
@require_GET
@protected
def alerts_history(request: HttpRequest) -> HttpResponse:
    """The alert history, newest first, paginated and filtered."""
    only(request.GET, *HISTORY_PARAMETERS)
    return _history(request)


@lru_cache(maxsize=1)
def _openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        files("monitoring").joinpath("schema/openapi.json").read_text(encoding="utf-8")
    )
    return document


@never_cache
@require_GET
@protected
def schema(request: HttpRequest) -> HttpResponse:
    """The OpenAPI 3 document of these endpoints, with the site's prefix as its server."""
    only(request.GET)
    prefix = reverse("monitoring:healthz")[: -len("healthz/")].rstrip("/")
    return JsonResponse({**_openapi(), "servers": [{"url": prefix or "/"}]})
