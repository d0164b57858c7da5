"""The endpoints of this foundation: liveness and metrics, with access control and 400s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings

from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}


def test_healthz_answers_anyone_and_is_never_cached() -> None:
    response = Client().get("/monitoring/healthz/", **OUTSIDER)
    assert (response.status_code, response.content) == (200, b"ok")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.parametrize("url", ["/monitoring/metrics/", "/monitoring/metrics/?format=prometheus"])
def test_metrics_refuse_strangers_and_tell_them_nothing(monitored: Monitored, url: str) -> None:
    Client().get("/t/plain/")
    response = Client().get(url, **OUTSIDER)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(response.content) == {"error": "authentication required"}


@override_settings(MONITORING={"TOKEN": "a-long-random-token"})
def test_bearer_token(monitored: Monitored) -> None:
    good = Client().get(
        "/monitoring/metrics/", HTTP_AUTHORIZATION="Bearer a-long-random-token", **OUTSIDER
    )
    assert good.status_code == 200
    for header in ("Bearer wrong", "Basic a-long-random-token", "Bearer", ""):
        bad = Client().get("/monitoring/metrics/", HTTP_AUTHORIZATION=header, **OUTSIDER)
        assert bad.status_code == 401, header


def test_staff_users_but_not_other_users(monitored: Monitored) -> None:
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    plain = User.objects.create_user("plain", password="pw")
    client = Client()
    client.force_login(plain)
    assert client.get("/monitoring/metrics/", **OUTSIDER).status_code == 401
    client.force_login(staff)
    assert client.get("/monitoring/metrics/", **OUTSIDER).status_code == 200


@override_settings(MONITORING={"ALLOWED_IPS": ["10.20.0.0/16", "2001:db8::/32"]})
def test_allowlisted_networks(monitored: Monitored) -> None:
    assert Client().get("/monitoring/metrics/", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert Client().get("/monitoring/metrics/", REMOTE_ADDR="2001:db8::7").status_code == 200
    assert Client().get("/monitoring/metrics/", REMOTE_ADDR="10.21.0.1").status_code == 401
    assert Client().get("/monitoring/metrics/", REMOTE_ADDR="127.0.0.1").status_code == 401


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    monitored: Monitored, settings: Any
) -> None:
    def status(remote: str, forwarded: str) -> int:
        response = Client().get(
            "/monitoring/metrics/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
        )
        return response.status_code

    settings.MONITORING = {"STORE_URL": "memory://", "ALLOWED_IPS": ["10.20.0.0/16"]}
    # Anyone can write the header: without trusted proxies it changes nothing.
    assert status("203.0.113.9", "10.20.3.4") == 401
    settings.MONITORING = {**settings.MONITORING, "TRUSTED_PROXIES": ["192.0.2.0/24"]}
    assert status("192.0.2.10", "10.20.3.4") == 200  # the proxy says who the client is
    assert status("192.0.2.10", "10.20.3.4, 192.0.2.11") == 200  # two proxies deep
    # The client's own claim, left of the address the proxy saw, is not believed.
    assert status("192.0.2.10", "10.20.3.4, 203.0.113.9") == 401
    assert status("203.0.113.9", "10.20.3.4") == 401  # not sent by a trusted proxy
    assert status("192.0.2.10", "garbage") == 401


def test_a_proxy_nobody_listed_does_not_lend_its_address(
    monitored: Monitored, settings: Any
) -> None:
    # An nginx on the host forwards every visitor from 127.0.0.1: without TRUSTED_PROXIES
    # its forwarded requests must not count as local ones.
    settings.MONITORING = {"STORE_URL": "memory://"}
    local = Client().get("/monitoring/metrics/", REMOTE_ADDR="127.0.0.1")
    assert local.status_code == 200  # a local process, e.g. Prometheus on this host
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"):
        proxied = Client().get(
            "/monitoring/metrics/", REMOTE_ADDR="127.0.0.1", **{header: "203.0.113.9"}
        )
        assert proxied.status_code == 401, header
    # Listed, the proxy is believed, and the visitor's own address decides.
    settings.MONITORING = {"STORE_URL": "memory://", "TRUSTED_PROXIES": ["127.0.0.1"]}
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert Client().get("/monitoring/metrics/", **forwarded).status_code == 401
    forwarded["HTTP_X_FORWARDED_FOR"] = "127.0.0.1"
    assert Client().get("/monitoring/metrics/", **forwarded).status_code == 200


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("window=abc", "window"),
        ("window=10s", "window"),
        ("window=48h", "window"),
        ("window=-5m", "window"),
        ("format=xml", "format"),
    ],
)
def test_bad_parameters_get_400_naming_them(
    monitored: Monitored, query: str, parameter: str
) -> None:
    response = Client().get(f"/monitoring/metrics/?{query}")
    assert response.status_code == 400
    body = json.loads(response.content)
    assert body["parameter"] == parameter and parameter in body["error"]


def test_json_summary_over_a_window(monitored: Monitored) -> None:
    client = Client(raise_request_exception=False)
    for _ in range(3):
        client.get("/t/queries/2/")
    client.get("/t/boom/")
    body = json.loads(client.get("/monitoring/metrics/?window=1h").content)
    assert body["window"]["seconds"] >= 3600
    assert body["requests"]["total"] == 4
    assert body["requests"]["errors_5xx"] == 1
    assert body["requests"]["error_rate"] == 0.25
    assert body["database"]["queries_per_request"] == 1.5
    routes = {row["route"]: row for row in body["routes"]}
    assert routes["/t/queries/<int:n>/"]["requests"] == 3
    assert routes["/t/queries/<int:n>/"]["queries_per_request"] == 2
    assert routes["/t/boom/"]["errors_5xx"] == 1
