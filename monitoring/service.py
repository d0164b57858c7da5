"""The background service's cycle: evaluate the alert rules, deliver the outbox, remove
expired data, record a heartbeat. Each step is a function; a step that fails is logged
and the next steps (and the next cycles) go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import router

from . import config, health, runtime
from .alerts.delivery import Fence, deliver_notifications, purge_notifications
from .alerts.service import evaluate_alerts, to_datetime
from .models import AlertEvent, Silence
from .recording.context import muted
from .stores.base import BaseStore

logger = logging.getLogger("monitoring.service")


@dataclass
class CycleReport:
    """What one cycle did, step by step, and how long it took."""

    done: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        parts = [f"{name}: {what}" for name, what in self.done.items()]
        parts += [f"{name}: FAILED" for name in self.failed]
        return f"cycle in {self.seconds * 1000:.0f} ms; " + "; ".join(parts)


def evaluate_step(store: BaseStore, now: float) -> str:
    outcome = evaluate_alerts(store, now=now)
    return (
        f"{outcome.firing} firing, {outcome.pending} pending, "
        f"{len(outcome.transitions)} transitions, {outcome.notifications} notifications queued"
    )


def deliver_step(now: float, fence: Fence | None = None) -> str:
    budget = max(5.0, config.get_config()["COLLECTION_INTERVAL"] / 2)
    report = deliver_notifications(now=now, fence=fence, budget=budget)
    return (
        f"{sum(report.sent.values())} sent, {sum(report.retried.values())} to retry, "
        f"{sum(report.failed.values())} failed"
    )


def purge_step(store: BaseStore, now: float) -> str:
    store.purge(now)
    keep = config.get_config()["ALERT_HISTORY_RETENTION_DAYS"] * 86400
    cutoff = to_datetime(now - keep)
    db = router.db_for_write(AlertEvent)
    events, _ = AlertEvent.objects.using(db).filter(at__lt=cutoff).delete()
    silences, _ = Silence.objects.using(db).filter(ends_at__lt=cutoff).delete()
    notifications = purge_notifications(now - keep, using=db)
    return f"{events} history entries, {notifications} notifications, {silences} silences"


def run_cycle(
    store: BaseStore | None = None, now: float | None = None, fence: Fence | None = None
) -> CycleReport:
    """Run every step once; never raises. Logs one INFO line with what it did."""
    started = time.monotonic()
    store = runtime.get_store() if store is None else store
    now = time.time() if now is None else now
    report = CycleReport()
    steps: list[tuple[str, Callable[[], str]]] = [
        ("alerts", lambda: evaluate_step(store, now)),
        ("delivery", lambda: deliver_step(now, fence)),
        ("cleanup", lambda: purge_step(store, now)),
    ]
    for name, step in steps:
        try:
            # Monitoring's own queries are not the site's: they are not recorded.
            with muted():
                report.done[name] = step()
        except Exception:
            logger.exception("The %s step failed; the cycle goes on", name)
            report.failed.append(name)
    try:
        store.beat(health.SERVICE_NAME, now)
    except Exception:
        logger.exception("The heartbeat could not be recorded")
        report.failed.append("heartbeat")
    report.seconds = time.monotonic() - started
    logger.info("%s", report.line())
    return report
