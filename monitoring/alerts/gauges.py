"""Alerting's own Prometheus gauges: firing alerts by severity, and the outbox's health."""

from __future__ import annotations

import time
from collections import Counter

from django.db import router
from django.db.models import Count, Min
from prometheus_client.metrics_core import Metric

from ..exposition import gauge
from ..models import AlertState, Notification
from .rules import SEVERITIES


def alert_families(now: float | None = None) -> list[Metric]:
    """``monitoring_alerts_firing{severity}`` and the notification outbox gauges."""
    now = time.time() if now is None else now
    db = router.db_for_read(AlertState)
    firing = Counter(
        AlertState.objects.using(db).filter(status="firing").values_list("severity", flat=True)
    )
    pending: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    oldest: float | None = None
    rows = (
        Notification.objects.using(db)
        .exclude(status="sent")
        .values("channel", "status")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    )
    for row in rows:
        if row["status"] == "pending":
            pending[row["channel"]] += row["count"]
            first = row["oldest"].timestamp()
            oldest = first if oldest is None else min(oldest, first)
        else:
            failed[row["channel"]] += row["count"]
    return [
        gauge(
            "monitoring_alerts_firing",
            "Alerts firing now, by severity (silenced and inhibited ones included).",
            ("severity",),
            [((severity,), firing.get(severity, 0)) for severity in SEVERITIES],
        ),
        gauge(
            "monitoring_alert_notifications_pending",
            "Notifications queued and not yet delivered, by channel.",
            ("channel",),
            [((channel,), count) for channel, count in sorted(pending.items())],
        ),
        gauge(
            "monitoring_alert_notifications_failed",
            "Notifications given up (a 4xx answer, or retried past the give-up time), by "
            "channel, kept for ALERT_HISTORY_RETENTION_DAYS.",
            ("channel",),
            [((channel,), count) for channel, count in sorted(failed.items())],
        ),
        gauge(
            "monitoring_alert_notification_oldest_pending_seconds",
            "Age of the oldest undelivered notification (0 when none waits).",
            (),
            [((), max(0.0, now - oldest) if oldest is not None else 0.0)],
        ),
    ]
