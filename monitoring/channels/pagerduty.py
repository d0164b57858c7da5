"""Alerts in PagerDuty, through the Events API v2.

Options: ``ROUTING_KEY`` (``PAGERDUTY_ROUTING_KEY``, the integration key of a service) and
``EVENTS_URL``. A firing message triggers an alert and the resolved message resolves it:
both carry the alert's ``dedup_key``, so PagerDuty folds repeats into one incident. It
answers ``202 {"status": "success", ...}``, ``400`` for an invalid event, ``429`` when
throttled.
"""

from __future__ import annotations

from typing import Any

from .base import Channel, DeliveryError, Message, iso8601
from .formatting import headline, truncate
from .http import post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_CHARS = 1024
SEVERITIES = frozenset({"critical", "warning", "info"})
TEST_KEY_PREFIX = "monitoring-test-"


def dedup_key(message: Message) -> str:
    """The alert's key; a test gets a key of its own so it never touches a real incident."""
    key = message.dedup_key
    if message.test and not key.startswith(TEST_KEY_PREFIX):
        return TEST_KEY_PREFIX + key
    return key


def pagerduty_event(message: Message, routing_key: str) -> dict[str, Any]:
    """The Events API v2 body for ``message``: a ``trigger``, or a ``resolve``."""
    if message.status == "resolved" and not message.test:
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key(message),
        }
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(message),
        "payload": {
            "summary": truncate(headline(message), SUMMARY_CHARS),
            # PagerDuty rejects an event without a source.
            "source": message.host or "django",
            # PagerDuty knows critical, error, warning and info.
            "severity": message.severity if message.severity in SEVERITIES else "error",
            "timestamp": iso8601(message.started_at),
            "component": message.route or "site",
            "group": "django",
            "class": message.metric,
            "custom_details": _details(message),
        },
        "client": "django-orm-monitoring",
    }
    if message.dashboard_url:
        event["client_url"] = message.dashboard_url
    if message.runbook_url:
        event["links"] = [{"href": message.runbook_url, "text": "Runbook"}]
    return event


def _details(message: Message) -> dict[str, Any]:
    details: dict[str, Any] = {
        "value": message.value_text,
        "threshold": message.threshold_text,
        "operator": message.operator,
        "window": message.window_text,
        "route": message.route,
        "description": message.description,
        "host": message.host,
        "rule": message.rule,
        "repeat": message.repeat,
    }
    if message.test:
        details["test"] = True
    return details


class PagerDutyChannel(Channel):
    """Sends each message as a PagerDuty Events API v2 event."""

    @property
    def routing_key(self) -> str:
        return str(self.options.get("ROUTING_KEY") or "")

    @property
    def events_url(self) -> str:
        return str(self.options.get("EVENTS_URL") or EVENTS_URL)

    def problems(self) -> list[str]:
        if self.routing_key:
            return []
        return ["no routing key: set PAGERDUTY_ROUTING_KEY (or the channel's ROUTING_KEY)"]

    def send(self, message: Message) -> None:
        if not self.routing_key:
            raise DeliveryError(f"{self.name}: no routing key configured", retry=False)
        post_json(
            self.events_url,
            pagerduty_event(message, self.routing_key),
            timeout=self.timeout,
            what=self.name,
            secrets=[self.routing_key],
        )
