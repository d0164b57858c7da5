"""The dashboard page for people: who may see it, and what its template is given.

The page is a shell: headings, empty tables and the addresses of the JSON endpoints. Its
scripts (``static/monitoring/dashboard*.js``) fetch ``dashboard/``, ``performance/*``,
``alerts/`` and ``health/`` with the visitor's session and fill it in every 10 seconds,
so the numbers on the page are exactly the documented JSON, and no data is ever rendered
into the HTML of a refused request.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from . import config, runtime
from .params import BadParameter

REFRESH_SECONDS = 10
HISTORY_ITEMS = 10
TEMPLATE = "monitoring/dashboard.html"
PLAIN_BASE = "monitoring/base_plain.html"
ADMIN_BASE = "admin/base_site.html"
# The windows offered (value, seconds, label); those longer than the retention are left out.
WINDOWS = (
    ("5m", 300, "5 minutes"),
    ("1h", 3600, "1 hour"),
    ("6h", 6 * 3600, "6 hours"),
    ("24h", 24 * 3600, "24 hours"),
)
ENDPOINTS = {
    "dashboard": "monitoring:dashboard",
    "queries": "monitoring:performance-queries",
    "cache": "monitoring:performance-cache",
    "alerts": "monitoring:alerts",
    "history": "monitoring:alerts-history",
    "health": "monitoring:health",
}


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _admin_login_url() -> str | None:
    """The admin's login page, when the admin is installed and its URLs are included."""
    if not apps.is_installed("django.contrib.admin"):
        return None
    return _url("admin:login")


def refusal(request: HttpRequest) -> HttpResponse:
    """The answer to a caller who may not see the page: a browser goes to the admin login
    (and comes back after it); a caller that sent credentials, or a site without the
    admin, gets 401. Nothing of the page is in either."""
    login = _admin_login_url()
    if login and "Authorization" not in request.headers:
        # As django.contrib.auth's redirect_to_login, without importing the auth app's
        # views (and models) into sites that run without it.
        query = QueryDict(mutable=True)
        query["next"] = request.get_full_path()
        return HttpResponseRedirect(f"{login}?{query.urlencode(safe='/')}")
    response = HttpResponse(
        "Authentication required: log in as a staff user, or send "
        "Authorization: Bearer <MONITORING_TOKEN>.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Bearer realm="monitoring"'
    return response


def window_choices(retention_seconds: int) -> list[tuple[str, str]]:
    """The (value, label) pairs of the window selector that the store's retention covers."""
    return [(value, label) for value, seconds, label in WINDOWS if seconds <= retention_seconds]


def selected_window(request: HttpRequest, choices: list[tuple[str, str]]) -> str:
    """The ``?window=`` asked for (one of ``choices``), by default the first."""
    values = [value for value, _ in choices]
    window = request.GET.get("window", values[0])
    if window not in values:
        raise BadParameter("window", f"window must be one of: {', '.join(values)}")
    return window


def _admin_context(request: HttpRequest) -> dict[str, Any]:
    """What ``admin/base_site.html`` needs (header, user links, theme), or an empty dict
    when the page uses the plain base."""
    if not apps.is_installed("django.contrib.admin") or not hasattr(request, "user"):
        return {}
    if _url("admin:index") is None:
        return {}
    from django.contrib import admin

    # The charts and tables take the full width: no navigation sidebar here.
    return {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,
        "base_template": ADMIN_BASE,
    }


def _alert_links() -> dict[str, str]:
    """Where an alert's history is, in the admin (when registered) and as JSON."""
    links = {"history_json": reverse("monitoring:alerts-history")}
    admin_history = _url("admin:monitoring_alertevent_changelist")
    if admin_history:
        links["history_admin"] = admin_history
    return links


def page_context(request: HttpRequest) -> dict[str, Any]:
    """The template context of the page. Raises :class:`BadParameter` for a bad window."""
    choices = window_choices(runtime.get_store().retention_seconds)
    window = selected_window(request, choices)
    cfg = config.get_config()
    # What the script needs, handed over as JSON (json_script): no inline code.
    client = {
        "window": window,
        "windows": [{"value": value, "label": label} for value, label in choices],
        "endpoints": {key: reverse(name) for key, name in ENDPOINTS.items()},
        "links": _alert_links(),
        "refresh_seconds": REFRESH_SECONDS,
        "history_items": HISTORY_ITEMS,
    }
    return {
        "base_template": PLAIN_BASE,
        **_admin_context(request),
        "title": "Monitoring dashboard",
        "windows": choices,
        "window": window,
        "window_label": dict(choices)[window],
        "endpoints": client["endpoints"],
        "links": client["links"],
        "client_config": client,
        "history_items": HISTORY_ITEMS,
        "slow_query_ms": cfg["SLOW_QUERY_MS"],
        "n_plus_one_threshold": cfg["N_PLUS_ONE_THRESHOLD"],
    }


def render_page(request: HttpRequest) -> HttpResponse:
    """The page, or a plain-text 400 naming a bad parameter."""
    try:
        context = page_context(request)
    except BadParameter as exc:
        return HttpResponse(exc.message + "\n", status=400, content_type="text/plain")
    return render(request, TEMPLATE, context)
