"""Delivery of the outbox: every queued notification reaches its channel, once, in order.

- Each channel is delivered in its own thread, so a channel that is down or slow delays
  only itself. Within a channel, rows go out oldest first and a row waiting for a retry
  holds back the rows after it (a resolution never overtakes its trigger).
- A row is claimed before it is sent (a conditional UPDATE, so two deliverers never send
  the same row) and the claim lapses after a while, so a deliverer that dies between
  sending and marking leaves the row to be sent again: no notification is lost, and a
  repeated PagerDuty event carries the same ``dedup_key``, so it pages no one twice.
- Failures that may pass (timeouts, 429, 5xx) are retried with exponential backoff and
  jitter, waiting at least what ``Retry-After`` asks; failures that will not (400, 404)
  mark the row failed at once. A row still failing after ``ALERT_DELIVERY_GIVE_UP_HOURS``
  is marked failed. Both are logged (logger ``monitoring.alerts``) and kept in the row.
- Messages to one destination are spaced by the channel's ``min_interval`` (Slack: one
  per second per webhook).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections, router
from django.db.models import Q

from .. import channels, config
from ..channels.base import Channel, DeliveryError, Message
from ..models import Notification
from ..recording.context import muted
from .service import to_datetime

logger = logging.getLogger("monitoring.alerts")

BACKOFF_BASE = 10.0  # seconds before the first retry (before jitter)
BACKOFF_CAP = 600.0  # the longest wait between two attempts
RETRY_AFTER_CAP = 3600.0
CLAIM_GRACE = 30.0  # seconds a claim outlives the channel's timeout

Fence = Callable[[], bool]


@dataclass
class DeliveryReport:
    """Rows sent, retried later and failed for good, per channel."""

    sent: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, channel: str) -> None:
        counts = getattr(self, outcome)
        counts[channel] = counts.get(channel, 0) + 1


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, with jitter,
    never less than the server's ``Retry-After``."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


class _Spacing:
    """When the last send to each destination ended, shared by every deliverer of this
    process. The next send starts ``min_interval`` after the previous one ended, so that
    two messages never reach the other side closer together than that, however long the
    connection took."""

    lock = threading.Lock()
    last: dict[tuple[str, str], float] = {}

    @staticmethod
    def _key(channel: Channel) -> tuple[str, str]:
        return (type(channel).__qualname__, channel.destination)

    @classmethod
    def wait(cls, channel: Channel) -> None:
        if channel.min_interval <= 0:
            return
        with cls.lock:
            pause = cls.last.get(cls._key(channel), -1e9) + channel.min_interval
        pause -= time.monotonic()
        if pause > 0:
            time.sleep(pause)

    @classmethod
    def done(cls, channel: Channel) -> None:
        if channel.min_interval > 0:
            with cls.lock:
                cls.last[cls._key(channel)] = time.monotonic()


def deliver_notifications(
    now: float | None = None,
    fence: Fence | None = None,
    budget: float = 60.0,
    using: str | None = None,
    parallel: bool = True,
) -> DeliveryReport:
    """Send every due notification, each channel in its own thread; return what happened.

    ``now`` (default the current time) decides what is due; ``fence`` is asked before each
    send and stops delivery when it returns False (the caller lost its leadership);
    ``budget`` bounds, in seconds, how long one call may go on sending. ``using`` names
    the database (default: the router's choice); ``parallel=False`` delivers the channels
    one after another in the calling thread.
    """
    now = time.time() if now is None else now
    db = using or router.db_for_write(Notification)
    names = list(
        Notification.objects.using(db)
        .filter(status="pending")
        .values_list("channel", flat=True)
        .distinct()
    )
    report = DeliveryReport()
    deadline = time.monotonic() + budget
    if not parallel:
        for name in sorted(names):
            _deliver_channel(db, name, now, fence, deadline, report, close=False)
        return report
    threads = [
        threading.Thread(
            target=_deliver_channel,
            args=(db, name, now, fence, deadline, report),
            name=f"monitoring-deliver-{name}",
        )
        for name in sorted(names)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return report


def _deliver_channel(
    db: str,
    name: str,
    now: float,
    fence: Fence | None,
    deadline: float,
    report: DeliveryReport,
    close: bool = True,
) -> None:
    try:
        with muted():  # a thread of its own: the caller's muting does not reach here
            while time.monotonic() < deadline and (fence is None or fence()):
                row = _claim_next(db, name, now)
                if row is None or not _deliver(db, row, now, report):
                    return
    except Exception:
        logger.exception("Delivery to channel %s failed; it is retried at the next cycle", name)
    finally:
        if close:
            # This thread's own database connection is not reused by anyone.
            connections[db].close()


def _claim_next(db: str, name: str, now: float) -> Notification | None:
    """The channel's oldest pending row, claimed; None when it is not due or not free."""
    row = (
        Notification.objects.using(db)
        .filter(channel=name, status="pending")
        .order_by("id")
        .first()
    )
    if row is None or row.next_attempt_at > to_datetime(now):
        return None
    timeout = float(channels.channel_options().get(name, {}).get("TIMEOUT") or 10)
    claim = to_datetime(now + timeout + CLAIM_GRACE)
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=to_datetime(now))
    taken = (
        Notification.objects.using(db)
        .filter(free, id=row.id, status="pending")
        .update(claimed_until=claim, attempts=row.attempts + 1)
    )
    if not taken:
        return None
    row.claimed_until, row.attempts = claim, row.attempts + 1
    return row


def _deliver(db: str, row: Notification, now: float, report: DeliveryReport) -> bool:
    """Send one claimed row and record the outcome; True when the next row may follow."""
    try:
        channel = channels.get_channel(row.channel)
    except Exception as exc:
        _finish(
            db, row, "failed", f"channel {row.channel!r} cannot be built: {type(exc).__name__}"
        )
        report.count("failed", row.channel)
        return True
    message = Message.from_dict({**row.payload, "notification_id": row.id})
    _Spacing.wait(channel)
    try:
        channel.send(message)
    except DeliveryError as exc:
        _Spacing.done(channel)
        return _failed(db, row, now, exc, report)
    except Exception as exc:
        _Spacing.done(channel)
        # A channel's own bug: retried like a transient failure, and logged with its trace.
        logger.exception("Channel %s raised while sending notification %s", row.channel, row.id)
        return _failed(db, row, now, DeliveryError(type(exc).__name__, retry=True), report)
    _Spacing.done(channel)
    _finish(db, row, "sent", "", sent_at=now)
    report.count("sent", row.channel)
    return True


def _failed(
    db: str, row: Notification, now: float, error: DeliveryError, report: DeliveryReport
) -> bool:
    give_up = config.get_config()["ALERT_DELIVERY_GIVE_UP_HOURS"] * 3600
    expired = now - row.created_at.timestamp() >= give_up
    if not error.retry or expired:
        why = (
            error.reason
            if not error.retry
            else f"gave up after {row.attempts} attempts: {error.reason}"
        )
        _finish(db, row, "failed", why)
        logger.error("Notification %s to %s failed: %s", row.id, row.channel, why)
        report.count("failed", row.channel)
        return True
    wait = backoff(row.attempts, error.retry_after)
    Notification.objects.using(db).filter(id=row.id, claimed_until=row.claimed_until).update(
        claimed_until=None,
        next_attempt_at=to_datetime(now + wait),
        last_error=error.reason[:500],
    )
    logger.warning(
        "Notification %s to %s not delivered (attempt %s): %s; next try in %.0f s",
        row.id,
        row.channel,
        row.attempts,
        error.reason,
        wait,
    )
    report.count("retried", row.channel)
    return False


def _finish(
    db: str, row: Notification, status: str, error: str, sent_at: float | None = None
) -> None:
    Notification.objects.using(db).filter(id=row.id, claimed_until=row.claimed_until).update(
        status=status,
        claimed_until=None,
        last_error=error[:500],
        sent_at=to_datetime(sent_at) if sent_at is not None else None,
    )


def purge_notifications(before: float, using: str | None = None) -> int:
    """Remove delivered and failed notifications created before ``before`` (epoch)."""
    db = using or router.db_for_write(Notification)
    deleted, _ = (
        Notification.objects.using(db)
        .filter(created_at__lt=to_datetime(before), status__in=("sent", "failed"))
        .delete()
    )
    return deleted
