"""Alerts posted to a Prometheus Alertmanager (API v2, ``POST /api/v2/alerts``), so that a
team routes, groups, silences and inhibits them with the Alertmanager it already runs.

Options: ``URL``, Alertmanager's base URL (``ALERT_ALERTMANAGER_URL``, e.g.
``http://alertmanager:9093``; ``user:password@`` is sent as Basic auth) and ``HEADERS``.

Alertmanager identifies an alert by its labels, so they hold only what names the alert
(``alertname``, ``severity``, ``route``), never the sending host: a resolution sent by
another copy of the service resolves the same alert. A firing alert is posted with an
``endsAt`` two repeat intervals ahead, and the service posts it again at every repeat, so
it stays active while it fires and ends by itself if the service stops for good (as
Prometheus does); a resolution is posted with its real end.
"""

from __future__ import annotations

import time
from typing import Any

from .. import config
from .base import HttpChannel, Message, iso8601
from .http import post_json

TEST_HOLD = 300.0  # seconds a test alert stays active in Alertmanager


def _hold(message: Message) -> float:
    if message.test:
        return TEST_HOLD
    cooldown = message.cooldown_seconds or config.get_config()["ALERT_COOLDOWN"]
    return 2.0 * float(cooldown)


def alertmanager_alert(message: Message, now: float | None = None) -> dict[str, Any]:
    """One postable alert of Alertmanager's API v2 for ``message``."""
    now = time.time() if now is None else now
    labels = {str(k): str(v) for k, v in message.labels.items()}
    labels.setdefault("alertname", message.rule)
    annotations = {
        "summary": message.summary,
        "description": message.description,
        "value": message.value_text,
        "threshold": message.threshold_text,
        "host": message.host,
    }
    if message.runbook_url:
        annotations["runbook_url"] = message.runbook_url
    if message.status == "resolved":
        ends = message.ended_at if message.ended_at is not None else now
    else:
        ends = now + _hold(message)
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso8601(message.started_at),
        "endsAt": iso8601(ends),
        "generatorURL": message.dashboard_url or "",
    }


class AlertmanagerChannel(HttpChannel):
    """POSTs each message as one alert to ``URL`` + ``/api/v2/alerts``."""

    url_setting = "ALERT_ALERTMANAGER_URL"

    def send(self, message: Message) -> None:
        url = self.require_url().rstrip("/") + "/api/v2/alerts"
        post_json(
            url,
            [alertmanager_alert(message)],
            timeout=self.timeout,
            what=self.name,
            headers=self.headers,
        )
