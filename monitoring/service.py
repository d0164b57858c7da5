"""The background service: every copy samples its host; the copy holding the lease
(``monitoring.leader``) also evaluates the alert rules, delivers the outbox, removes
expired data and, when ``REPORT_SCHEDULE`` is set, emails the performance report. Each step
is a function; a step that fails is logged and the next steps (and cycles) go on. A stop
request (SIGTERM) lets the current step finish, then ends the cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import router

from . import config, health, runtime
from .alerts.delivery import Fence, deliver_notifications, purge_notifications
from .alerts.messages import host_name
from .alerts.service import NotLeading, evaluate_alerts, to_datetime
from .dashboard import health_score
from .leader import BaseLease
from .models import AlertEvent, Silence
from .recording import metrics as m
from .recording.aggregate import Bucket
from .recording.context import muted
from .report import NoRecipients, email_report, render_report, report_period, span
from .stores.base import BaseStore
from .system import host_sample

logger = logging.getLogger("monitoring.service")
REPORT_BEAT = "monitoring_report"  # the store's record of the last scheduled report


@dataclass
class CycleReport:
    """What one cycle did, step by step, and how long it took."""

    leading: bool = False
    done: dict[str, str] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        role = "leader" if self.leading else "follower"
        parts = [f"{name}: {what}" for name, what in self.done.items()]
        parts += [f"{name}: FAILED" for name in self.failed]
        return f"cycle ({role}) in {self.seconds * 1000:.0f} ms; " + "; ".join(parts)


def sample_step(store: BaseStore, now: float) -> str:
    """Write this host's CPU, memory, disk, load and site process count into the store."""
    cfg = config.get_config()
    sample = host_sample(cfg["HEALTH_DISK_PATH"] or "/", cfg["SITE_PROCESS_PATTERN"])
    width = cfg["BUCKET_SECONDS"]
    bucket = Bucket(int(now) // width * width, width)
    host = host_name()
    for resource, value in sample.items():
        bucket.maxima[(m.SYSTEM.name, (host, resource))] = value
    store.write([bucket])
    return (
        f"cpu {sample['cpu']:.0f}%, memory {sample['memory']:.0f}%, disk {sample['disk']:.0f}%, "
        f"load {sample['load1']:.2f}, {sample['site_processes']:.0f} site processes"
    )


def evaluate_step(store: BaseStore, now: float, fence: Fence | None = None) -> str:
    outcome = evaluate_alerts(store, now=now, fence=fence)
    score = health_score(store.read_window(min(300, store.retention_seconds), now=now))
    return (
        f"health {score}, {outcome.firing} firing, {outcome.pending} pending, "
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


def report_step(store: BaseStore, now: float, fence: Fence | None = None) -> str:
    """Email the performance report once per ``REPORT_SCHEDULE`` period (the first at the
    first cycle); the last sending is the store's ``monitoring_report`` beat."""
    cfg = config.get_config()
    every = config.REPORT_SCHEDULES[cfg["REPORT_SCHEDULE"]]
    last = store.last_beat(REPORT_BEAT)
    if last is not None and now - last < every:
        return f"next in {span(last + every - now)}"
    if fence is not None and not fence():
        raise NotLeading
    period = report_period(cfg)
    try:
        sent = email_report(render_report(store, period, now), period, now)
    except NoRecipients as exc:
        logger.warning("The scheduled performance report is due: %s", exc)
        return f"not sent: {exc}"
    store.beat(REPORT_BEAT, now)
    return f"emailed to {sent}"


def _leads(lease: BaseLease | None, now: float, report: CycleReport) -> bool:
    if lease is None:
        return True
    try:
        with muted():
            return lease.hold(now)
    except Exception:
        logger.exception("The service lease could not be read; not leading this cycle")
        report.failed.append("lease")
        return False


def run_cycle(
    store: BaseStore | None = None,
    now: float | None = None,
    lease: BaseLease | None = None,
    stop: threading.Event | None = None,
) -> CycleReport:
    """Run one cycle; never raises. Logs one INFO line with what it did.

    Without a ``lease`` this copy leads; with one, it leads only while it holds it, and
    checks it again (the fence) inside each evaluation and before each notification.
    """
    started = time.monotonic()
    store = runtime.get_store() if store is None else store
    now = time.time() if now is None else now
    stop = stop or threading.Event()
    report = CycleReport()

    def fence() -> bool:
        return not stop.is_set() and (lease is None or lease.renew())

    steps: list[tuple[str, Callable[[], str]]] = [("system", lambda: sample_step(store, now))]
    report.leading = _leads(lease, now, report)
    if report.leading:
        steps += [
            ("alerts", lambda: evaluate_step(store, now, fence)),
            ("delivery", lambda: deliver_step(now, fence)),
            ("cleanup", lambda: purge_step(store, now)),
        ]
        if config.get_config()["REPORT_SCHEDULE"]:
            steps.append(("report", lambda: report_step(store, now, fence)))
    for name, step in steps:
        if stop.is_set():
            break
        _run_step(name, step, report)
    _beat(store, now, report)
    report.seconds = time.monotonic() - started
    logger.info("%s", report.line())
    return report


def _run_step(name: str, step: Callable[[], str], report: CycleReport) -> None:
    try:
        # Monitoring's own queries are not the site's: they are not recorded.
        with muted():
            report.done[name] = step()
    except NotLeading:
        report.leading = False
        report.done[name] = "not leading any more"
    except Exception:
        logger.exception("The %s step failed; the cycle goes on", name)
        report.failed.append(name)


def _beat(store: BaseStore, now: float, report: CycleReport) -> None:
    """Record this copy's heartbeat, and the service's when this cycle evaluated the rules."""
    try:
        store.beat(f"{health.SERVICE_NAME}@{host_name()}", now)
        if "alerts" in report.done and report.leading:
            store.beat(health.SERVICE_NAME, now)
    except Exception:
        logger.exception("The heartbeat could not be recorded")
        report.failed.append("heartbeat")


class Service:
    """The loop of ``run_monitoring``: a cycle every ``interval`` seconds until stopped.

    Between cycles a copy that does not lead looks at the lease four times per interval,
    so that it takes over within two intervals of the leader's death.
    """

    def __init__(self, interval: float, store: BaseStore, lease: BaseLease | None) -> None:
        self.interval = interval
        self.store = store
        self.lease = lease
        self.stop = threading.Event()
        # What the probes look at (monitoring.probes): monotonic times, the last report.
        self.started = time.monotonic()
        self.last_started: float | None = None
        self.last_report: CycleReport | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                started = self.last_started = time.monotonic()
                report = self.last_report = run_cycle(self.store, lease=self.lease, stop=self.stop)
                self._wait(started + self.interval, report.leading)
        finally:
            if self.lease is not None:
                try:
                    self.lease.release()
                except Exception:
                    logger.exception("The service lease could not be released")

    def _wait(self, until: float, leading: bool) -> None:
        while not self.stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, self.interval / 4))
            if self._taken_over(leading):
                return  # the leader is gone: start a cycle as the new leader now

    def _taken_over(self, leading: bool) -> bool:
        if leading or self.lease is None or self.stop.is_set():
            return False
        return _leads(self.lease, time.time(), CycleReport())
