"""The Alertmanager channel: the exact API v2 request, then a real Alertmanager (Debian's
prometheus-alertmanager on 127.0.0.1) receiving an alert from the outbox and seeing it
resolved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from monitoring.alerts.delivery import deliver_notifications
from monitoring.alerts.service import evaluate_alerts
from monitoring.channels.alertmanager import AlertmanagerChannel, alertmanager_alert
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, write_traffic
from tests.conftest import Clock
from tests.messages import ENDED, sample_message
from tests.receivers import Receiver
from tests.servers import free_port

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_a_firing_and_a_resolved_alert_as_posted() -> None:
    with Receiver("/api/v2/alerts", (200, {}, b"")) as receiver:
        channel = AlertmanagerChannel(
            "alertmanager", {"URL": receiver.url.removesuffix("/api/v2/alerts") + "/"}
        )
        channel.send(sample_message(cooldown_seconds=600))
        channel.send(sample_message(status="resolved", ended_at=ENDED))
        firing, resolved = receiver.wait_for(2)
    assert firing.method == "POST" and firing.headers["Content-Type"] == "application/json"
    [alert] = firing.json()
    assert alert["labels"] == {
        "alertname": "high_error_rate",
        "severity": "critical",
        "route": "/items/<int:pk>/",
    }
    assert alert["startsAt"] == "2026-11-18T11:06:40.250Z"
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00")).timestamp()
    assert 1150 <= ends - time.time() <= 1210  # two repeat intervals ahead
    assert alert["annotations"]["value"] == "12.5%" and alert["annotations"]["host"] == "web-1"
    assert alert["annotations"]["runbook_url"].startswith("https://")
    assert alert["generatorURL"] == "https://shop.example.com/monitoring/dashboard/"
    [done] = resolved.json()
    assert done["labels"] == alert["labels"] and done["endsAt"] == "2026-11-18T11:16:40.000Z"


def test_without_a_url_nothing_is_sent() -> None:
    channel = AlertmanagerChannel("alertmanager", {})
    assert channel.problems() == ["no URL: set ALERT_ALERTMANAGER_URL (or the channel's URL)"]
    assert alertmanager_alert(sample_message(test=True), now=0)["endsAt"] == (
        "1970-01-01T00:05:00.000Z"
    )


def get(url: str) -> Any:
    with OPENER.open(url, timeout=5) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus-alertmanager is not installed (Debian package)")
        pytest.skip("prometheus-alertmanager is not installed; scripts/test.sh installs it")
    folder: Path = tmp_path_factory.mktemp("alertmanager")
    (folder / "alertmanager.yml").write_text(
        'route:\n  receiver: "null"\n  group_wait: 0s\nreceivers:\n  - name: "null"\n'
    )
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one Alertmanager, local only
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "alertmanager.log", "wb"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with OPENER.open(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(
                "Alertmanager did not become ready: " + (folder / "alertmanager.log").read_text()
            )
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def ours(url: str) -> list[dict]:
    return [
        a for a in get(f"{url}/api/v2/alerts") if a["labels"].get("alertname") == "high_error_rate"
    ]


@pytest.mark.slow
@pytest.mark.django_db
def test_a_real_alertmanager_shows_the_alert_then_sees_it_resolved(
    alertmanager: str, clock: Clock
) -> None:
    monitoring = {
        "STORE_URL": "memory://",
        "HOST": "web-1",
        "SITE_URL": "https://shop.example.com",
        "ALERT_ALERTMANAGER_ENABLED": True,
        "ALERT_ALERTMANAGER_URL": alertmanager,
    }
    store = MemoryStore(clock=clock)
    write_traffic(store, Traffic().requests("/a/", 60).requests("/a/", 40, status=500), clock.now)
    with override_settings(MONITORING=monitoring):
        evaluate_alerts(store)
        clock.advance(60)
        evaluate_alerts(store)  # firing
        assert deliver_notifications(now=clock.now, parallel=False).sent == {"alertmanager": 1}
        [alert] = ours(alertmanager)
        assert alert["status"]["state"] == "active"
        assert alert["labels"] == {"alertname": "high_error_rate", "severity": "critical"}
        assert alert["annotations"]["summary"] == ("error_rate is 40% (threshold > 5%) over 5m")
        assert alert["generatorURL"] == "https://shop.example.com/monitoring/"
        clock.advance(400)
        evaluate_alerts(store)  # resolved
        assert deliver_notifications(now=clock.now, parallel=False).sent == {"alertmanager": 1}
    # A resolved alert is no longer among Alertmanager's alerts.
    assert ours(alertmanager) == []
