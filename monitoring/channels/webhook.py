"""Alerts to any HTTP endpoint, as Alertmanager's webhook payload (version 4).

Receivers written for Prometheus Alertmanager (``webhook_config``) work unchanged: each
message is one group holding one alert. Options: ``URL`` (``ALERT_WEBHOOK_URL``; a
``user:password@`` in it is sent as Basic auth) and ``HEADERS`` (extra request headers,
e.g. ``{"Authorization": "Bearer ..."}``). A message from the outbox carries an
``Idempotency-Key`` header, the same on every retry of one notification, so a receiver
can drop a repeat.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from .base import HttpChannel, Message, iso8601
from .http import post_json

# Alertmanager's "not ended yet" (Go's zero time).
NOT_ENDED = "0001-01-01T00:00:00Z"


def fingerprint(dedup_key: str) -> str:
    """16 hex digits identifying the alert, as Alertmanager's fingerprints look."""
    return hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:16]


def _annotations(message: Message) -> dict[str, str]:
    found = {str(k): str(v) for k, v in message.annotations.items()}
    found.update(
        summary=message.summary,
        description=message.description,
        value=message.value_text,
        threshold=message.threshold_text,
    )
    if message.runbook_url:
        found["runbook_url"] = message.runbook_url
    return found


def alertmanager_payload(message: Message, receiver: str) -> dict[str, Any]:
    """Alertmanager's webhook body for ``message``, sent to the receiver named ``receiver``."""
    labels = {str(k): str(v) for k, v in message.labels.items()}
    annotations = _annotations(message)
    if message.status == "resolved":
        ended = message.ended_at if message.ended_at is not None else time.time()
        ends_at = iso8601(ended)
    else:
        ends_at = NOT_ENDED
    alert = {
        "status": message.status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso8601(message.started_at),
        "endsAt": ends_at,
        "generatorURL": message.dashboard_url or "",
        "fingerprint": fingerprint(message.dedup_key),
    }
    return {
        "version": "4",
        "groupKey": message.dedup_key,
        "truncatedAlerts": 0,
        "status": message.status,
        "receiver": receiver,
        "groupLabels": {"alertname": labels.get("alertname", message.rule)},
        # One alert per group, so what its alerts have in common is that alert's own.
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": message.dashboard_url or "",
        "alerts": [alert],
    }


class WebhookChannel(HttpChannel):
    """POSTs each message, in Alertmanager's webhook format, to ``URL``."""

    url_setting = "ALERT_WEBHOOK_URL"

    def send(self, message: Message) -> None:
        url = self.require_url()
        headers = self.headers
        if message.notification_id is not None:
            headers["Idempotency-Key"] = f"{message.dedup_key}:{message.notification_id}"
        post_json(
            url,
            alertmanager_payload(message, self.name),
            timeout=self.timeout,
            what=self.name,
            headers=headers,
        )
