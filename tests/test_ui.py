"""The dashboard page for people, with Django's test client: who may see it, the refusal,
its markup (headings, tables, labels), the admin's links to it and its static files.

What the page's script does in a browser is tested in tests/test_ui_browser.py.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import include, path

from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

TOKEN = "ui-token-for-tests-only"
OUTSIDER = "203.0.113.9"
PAGES = ["/monitoring/", "/monitoring/ui/"]
STATIC = [
    "monitoring/dashboard-common.js",
    "monitoring/dashboard-charts.js",
    "monitoring/dashboard.js",
    "monitoring/dashboard.css",
    "monitoring/vendor/uplot/uPlot.iife.min.js",
    "monitoring/vendor/uplot/uPlot.min.css",
]
# A site that includes monitoring but not the admin's URLs (ROOT_URLCONF = this module).
urlpatterns = [path("monitoring/", include("monitoring.urls"))]


class AdminOnlyURLs:
    """A URL configuration with the admin and without monitoring (Django takes any object
    with ``urlpatterns`` as one)."""

    urlpatterns = [path("admin/", admin.site.urls)]


@pytest.fixture
def configured(monitored: Monitored, settings: Any) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        "TOKEN": TOKEN,
        "ALLOWED_IPS": ["10.1.0.0/16"],
    }


def caller(kind: str) -> tuple[Client, dict[str, str]]:
    client = Client()
    if kind == "staff":
        client.force_login(User.objects.create_user("staff", is_staff=True))
    if kind == "user":
        client.force_login(User.objects.create_user("user"))
    headers = {
        "anonymous": {"REMOTE_ADDR": OUTSIDER},
        "user": {"REMOTE_ADDR": OUTSIDER},
        "wrong token": {"REMOTE_ADDR": OUTSIDER, "HTTP_AUTHORIZATION": "Bearer not-the-token"},
        "right token": {"REMOTE_ADDR": OUTSIDER, "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"},
        "staff": {"REMOTE_ADDR": OUTSIDER},
        "allowlisted": {"REMOTE_ADDR": "10.1.2.3"},
    }[kind]
    return client, headers


def page_config(html: str) -> dict[str, Any]:
    """The JSON the page hands its script (json_script)."""
    found = re.search(
        r'<script id="monitoring-config" type="application/json">(.*?)</script>', html
    )
    assert found, html
    config: dict[str, Any] = json.loads(found.group(1))
    return config


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("kind", ["right token", "staff", "allowlisted"])
def test_the_authorised_see_the_page(configured: None, url: str, kind: str) -> None:
    client, headers = caller(kind)
    response = client.get(url, **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "no-store" in response["Cache-Control"]
    assert "<h1>Monitoring dashboard</h1>" in response.content.decode()


@pytest.mark.parametrize("url", PAGES)
@pytest.mark.parametrize("kind", ["anonymous", "user"])
def test_a_browser_without_rights_goes_to_the_admin_login(
    configured: None, url: str, kind: str
) -> None:
    client, headers = caller(kind)
    response = client.get(url + "?window=1h", **headers)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}%3Fwindow%3D1h"
    assert response.content == b""  # nothing of the page


@pytest.mark.parametrize("url", PAGES)
def test_a_wrong_token_gets_401_and_nothing_else(configured: None, url: str) -> None:
    client, headers = caller("wrong token")
    response = client.get(url, **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="monitoring"'
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.startswith(b"Authentication required")
    assert b"monitoring-config" not in response.content


def test_logging_in_through_the_admin_form_leads_back_to_the_page(configured: None) -> None:
    User.objects.create_user("ops", password="a-long-test-password", is_staff=True)
    client = Client(REMOTE_ADDR=OUTSIDER)
    login = client.get("/monitoring/")["Location"]
    response = client.post(
        login,
        {"username": "ops", "password": "a-long-test-password", "next": "/monitoring/"},
        follow=True,
        REMOTE_ADDR=OUTSIDER,
    )
    assert response.redirect_chain[-1] == ("/monitoring/", 302)
    assert response.status_code == 200
    config = page_config(response.content.decode())
    # Every document the page's script fetches answers the same session.
    for url in config["endpoints"].values():
        answer = client.get(url, {"window": "5m"} if "window" in url else {})
        assert answer.status_code == 200 or url.endswith("/health/"), (url, answer.content)


def test_without_the_admin_a_refusal_is_401_and_the_page_has_a_plain_base(
    configured: None,
) -> None:
    apps = [app for app in django_settings.INSTALLED_APPS if app != "django.contrib.admin"]
    with override_settings(INSTALLED_APPS=apps, ROOT_URLCONF="tests.test_ui"):
        refused = Client().get("/monitoring/", REMOTE_ADDR=OUTSIDER)
        assert refused.status_code == 401
        page = Client().get("/monitoring/", REMOTE_ADDR="10.1.2.3")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Django administration" not in html
    assert "<h1>Monitoring dashboard</h1>" in html
    assert page_config(html)["links"] == {"history_json": "/monitoring/alerts/history/"}


def test_the_page_markup(configured: None) -> None:
    html = Client().get("/monitoring/", REMOTE_ADDR="10.1.2.3").content.decode()
    assert "Django administration" in html  # the admin's look
    assert html.count("<h1>") == 1
    for heading in ["Overview of the last", "Active alerts", "Traffic over the last"]:
        assert re.search(r"<h2 [^>]*>" + heading, html), heading
    for heading in ["Endpoints", "Database", "Cache", "Health checks", "Silences"]:
        assert re.search(r"<h2 [^>]*>" + heading, html), heading
    tables = re.findall(r"<table\b.*?</table>", html, re.S)
    assert len(tables) == 10
    for table in tables:
        assert "<caption>" in table and '<th scope="col"' in table
    assert '<label for="mon-window">Window</label>' in html
    assert '<th scope="col" data-key="requests" aria-sort="descending">' in html
    assert html.count('role="img"') == 3  # each chart, named by its caption and summary
    for asset in STATIC:
        assert f'"/static/{asset}"' in html
    config = page_config(html)
    assert config["window"] == "5m"
    assert [w["value"] for w in config["windows"]] == ["5m", "1h", "6h", "24h"]
    assert config["endpoints"] == {
        "dashboard": "/monitoring/dashboard/",
        "queries": "/monitoring/performance/queries/",
        "cache": "/monitoring/performance/cache/",
        "alerts": "/monitoring/alerts/",
        "history": "/monitoring/alerts/history/",
        "health": "/monitoring/health/",
    }
    assert config["links"] == {
        "history_json": "/monitoring/alerts/history/",
        "history_admin": "/admin/monitoring/alertevent/",
    }
    assert config["refresh_seconds"] == 10


def test_the_window_is_chosen_among_those_the_retention_covers(
    configured: None, settings: Any
) -> None:
    settings.MONITORING = {**settings.MONITORING, "RETENTION_HOURS": 6}
    client = Client(REMOTE_ADDR="10.1.2.3")
    html = client.get("/monitoring/?window=6h").content.decode()
    config = page_config(html)
    assert config["window"] == "6h"
    assert [w["value"] for w in config["windows"]] == ["5m", "1h", "6h"]
    assert '<option value="6h" selected>6 hours</option>' in html
    for bad in ["24h", "7m", ""]:
        response = client.get("/monitoring/", {"window": bad})
        assert response.status_code == 400
        assert response.content.decode().startswith("window must be one of: 5m, 1h, 6h")


def test_the_monitoring_admin_pages_link_to_the_dashboard(configured: None) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    link = '<a href="/monitoring/ui/"'
    for url in [
        "/admin/monitoring/",
        "/admin/monitoring/alertevent/",
        "/admin/monitoring/alertstate/",
        "/admin/monitoring/silence/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert link in response.content.decode(), url


def test_the_admin_index_links_to_the_dashboard_when_monitoring_comes_first(
    configured: None,
) -> None:
    # App templates are searched in INSTALLED_APPS order: monitoring's admin/index.html
    # (which extends the stock one) is used when monitoring comes before the admin.
    apps = ["monitoring"] + [a for a in django_settings.INSTALLED_APPS if a != "monitoring"]
    with override_settings(INSTALLED_APPS=apps):
        client = Client()
        client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
        html = client.get("/admin/").content.decode()
    assert '<a href="/monitoring/ui/"><strong>Monitoring dashboard</strong></a>' in html
    assert "Site administration" in html and 'id="recent-actions-module"' in html


def test_the_admin_index_still_renders_without_monitoring_urls(configured: None) -> None:
    apps = ["monitoring"] + [a for a in django_settings.INSTALLED_APPS if a != "monitoring"]
    with override_settings(INSTALLED_APPS=apps, ROOT_URLCONF=AdminOnlyURLs):
        client = Client()
        client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
        response = client.get("/admin/")
    assert response.status_code == 200
    assert "Monitoring dashboard" not in response.content.decode()


def test_the_static_files_are_found_and_shipped() -> None:
    package = files("monitoring")
    for asset in STATIC:
        found = finders.find(asset)
        assert found and str(found).endswith(asset), asset
        assert package.joinpath("static", asset).is_file(), asset
    vendor = package.joinpath("static/monitoring/vendor/uplot")
    assert "MIT" in vendor.joinpath("LICENSE").read_text()
    assert "1.6.32" in vendor.joinpath("README").read_text()
    for template in [
        "templates/monitoring/dashboard.html",
        "templates/monitoring/base_plain.html",
        "templates/admin/index.html",
        "templates/admin/monitoring/app_index.html",
    ]:
        assert package.joinpath(template).is_file(), template


def test_collectstatic_with_hashed_names_serves_the_page(configured: None, tmp_path: Path) -> None:
    # ManifestStaticFilesStorage (and WhiteNoise's, built on it) rewrites the references
    # inside CSS and JS files, and fails on one that points nowhere.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
        },
    }
    apps = [*django_settings.INSTALLED_APPS, "django.contrib.staticfiles"]
    with override_settings(INSTALLED_APPS=apps, STATIC_ROOT=str(tmp_path), STORAGES=storages):
        call_command("collectstatic", "--noinput", verbosity=0)
        html = Client().get("/monitoring/", REMOTE_ADDR="10.1.2.3").content.decode()
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    for asset in STATIC:
        assert f'"/static/{manifest[asset]}"' in html, asset
        assert (tmp_path / manifest[asset]).is_file()


def test_whitenoise_serves_the_page_assets(configured: None, tmp_path: Path) -> None:
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    apps = [*django_settings.INSTALLED_APPS, "django.contrib.staticfiles"]
    middleware = ["whitenoise.middleware.WhiteNoiseMiddleware", *django_settings.MIDDLEWARE]
    with override_settings(
        INSTALLED_APPS=apps, STATIC_ROOT=str(tmp_path), STORAGES=storages, MIDDLEWARE=middleware
    ):
        call_command("collectstatic", "--noinput", verbosity=0)
        client = Client()
        html = client.get("/monitoring/", REMOTE_ADDR="10.1.2.3").content.decode()
        urls = re.findall(r'(?:src|href)="(/static/monitoring/[^"]+)"', html)
        assert len(urls) >= 4, urls  # the page's scripts and styles, uPlot's too
        for url in urls:
            response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
            assert response.status_code == 200, url
            assert "immutable" in response["Cache-Control"], url  # hashed names, cached
            assert b"".join(response.streaming_content), url
