"""A sample alert message, as the alert engine would hand it to the channels."""

from __future__ import annotations

import dataclasses
from typing import Any

from monitoring.channels.base import Message

STARTED = 1795000000.25  # 2026-11-18T11:06:40.250Z
ENDED = 1795000600.0  # ten minutes later
ROUTE = "/items/<int:pk>/"
RUNBOOK = "https://wiki.example.com/runbooks/errors"
DASHBOARD = "https://shop.example.com/monitoring/dashboard/"


def sample_message(**changes: Any) -> Message:
    """``high_error_rate`` firing on :data:`ROUTE`, with ``changes`` applied."""
    message = Message(
        rule="high_error_rate",
        status="firing",
        severity="critical",
        summary="error rate 12.5% > 5%",
        description="More than 5% of the requests failed.",
        labels={"alertname": "high_error_rate", "severity": "critical", "route": ROUTE},
        metric="error_rate",
        operator=">",
        value=0.125,
        threshold=0.05,
        value_text="12.5%",
        threshold_text="5%",
        window_seconds=300,
        started_at=STARTED,
        dedup_key="high_error_rate:/items/<int:pk>/",
        host="web-1",
        runbook_url=RUNBOOK,
        dashboard_url=DASHBOARD,
        notification_id=42,
    )
    return dataclasses.replace(message, **changes)


def resolved_message(**changes: Any) -> Message:
    """The same alert, resolved (its value back under the threshold)."""
    return sample_message(
        status="resolved", value=0.012, value_text="1.2%", ended_at=ENDED, **changes
    )
