"""The read side of alerting, and silences: plain functions over the ORM.

What the ``alerts/`` endpoint, the dashboard and the ``silence_alert`` command show. Every
result is JSON-ready: timestamps are ISO 8601 strings in UTC, blank labels are ``None``.
The engine and the outbox write these tables (``monitoring.alerts.service``); nothing here
changes an alert.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.utils import timezone as django_timezone

from ..models import AlertEvent, AlertState, Notification, Silence
from .rules import load_rules

STATUS_ORDER = {"firing": 0, "pending": 1}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITIES = tuple(SEVERITY_ORDER)
HISTORY_STATES = ("pending", "firing", "resolved", "ok")


def iso(moment: datetime | None) -> str | None:
    """``2026-11-27T04:40:00Z``, or None."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _number(value: float | None) -> float | None:
    """Rounded like the other endpoints' ratios; None for no value, and for NaN or infinity,
    which JSON cannot hold."""
    return round(value, 6) if value is not None and math.isfinite(value) else None


def _now(now: datetime | None) -> datetime:
    return django_timezone.now() if now is None else now


def silences_in_force(now: datetime | None = None) -> list[Silence]:
    """The silences with ``starts_at <= now < ends_at``, ending soonest first."""
    moment = _now(now)
    return list(
        Silence.objects.filter(starts_at__lte=moment, ends_at__gt=moment).order_by("ends_at", "id")
    )


def _silence(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "rule": silence.rule or None,
        "route": silence.route or None,
        "severity": silence.severity or None,
        "starts_at": iso(silence.starts_at),
        "ends_at": iso(silence.ends_at),
        "comment": silence.comment,
        "created_by": silence.created_by,
    }


def _alert(
    state: AlertState, silences: list[Silence], runbooks: dict[str, str | None]
) -> dict[str, Any]:
    return {
        "rule": state.rule,
        "route": state.route or None,
        "status": state.status,
        "severity": state.severity,
        "value": _number(state.value),
        "threshold": _number(state.threshold),
        "summary": state.summary,
        "active_since": iso(state.active_since),
        "fired_at": iso(state.fired_at),
        "last_notified_at": iso(state.last_notified_at),
        "evaluated_at": iso(state.evaluated_at),
        "muted": state.muted or None,
        "silenced_by": [
            s.id for s in silences if s.matches(state.rule, state.route, state.severity)
        ],
        "runbook_url": runbooks.get(state.rule),
    }


def _runbooks() -> dict[str, str | None]:
    """Each configured rule's runbook, by name: the alert rows do not keep it, and the rule's
    current setting is the one worth following."""
    return {rule.name: rule.runbook_url for rule in load_rules()}


def active_alerts(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every pending or firing alert: firing first, then by severity, the oldest first.

    ``silenced_by`` lists the ids of the silences that cover the alert at ``now``;
    ``runbook_url`` is its rule's (None for a rule no longer configured).
    """
    silences = silences_in_force(now)
    runbooks = _runbooks()
    states = sorted(
        AlertState.objects.all(),
        key=lambda s: (
            STATUS_ORDER.get(s.status, 9),
            SEVERITY_ORDER.get(s.severity, 9),
            s.active_since,
            s.rule,
            s.route,
        ),
    )
    return [_alert(state, silences, runbooks) for state in states]


def active_silences(now: datetime | None = None) -> list[dict[str, Any]]:
    """The silences in force at ``now`` (``starts_at <= now < ends_at``), ending soonest
    first."""
    return [_silence(silence) for silence in silences_in_force(now)]


def overview(now: datetime | None = None) -> dict[str, Any]:
    """The ``alerts/`` document: active alerts, active silences, firing alerts by severity."""
    active = active_alerts(now)
    firing = dict.fromkeys(SEVERITIES, 0)
    for alert in active:
        if alert["status"] == "firing":
            firing[alert["severity"]] = firing.get(alert["severity"], 0) + 1
    return {"active": active, "silences": active_silences(now), "firing": firing}


def _notification(notification: Notification) -> dict[str, Any]:
    return {
        "channel": notification.channel,
        "kind": notification.kind,
        "status": notification.status,
        "attempts": notification.attempts,
        "sent_at": iso(notification.sent_at),
        "last_error": notification.last_error or None,
    }


def _event(event: AlertEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "rule": event.rule,
        "route": event.route or None,
        "severity": event.severity,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "value": _number(event.value),
        "threshold": _number(event.threshold),
        "operator": event.operator,
        "metric": event.metric,
        "window_seconds": event.window_seconds,
        "at": iso(event.at),
        "summary": event.summary,
        "muted": event.muted or None,
        "notifications": [_notification(n) for n in event.notifications.all()],
    }


def history_page(
    page: int = 1,
    per_page: int = 50,
    rule: str | None = None,
    state: str | None = None,
    severity: str | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """One page of the alert history, newest first, with each transition's notifications.

    ``state`` filters on the state entered (``to_state``), ``since`` on ``at >= since``.
    A page past the end has no items; ``next`` and ``previous`` are page numbers or None.
    """
    events = AlertEvent.objects.order_by("-at", "-id")
    filters = {"rule": rule, "to_state": state, "severity": severity, "at__gte": since}
    events = events.filter(**{key: value for key, value in filters.items() if value is not None})
    total = events.count()
    pages = math.ceil(total / per_page)
    start = (page - 1) * per_page
    # From a page past the end, "previous" is the last page there is.
    previous = min(page - 1, pages) if page > 1 else 0
    rows = events.prefetch_related(
        Prefetch("notifications", queryset=Notification.objects.order_by("id"))
    )[start : start + per_page]
    return {
        "items": [_event(event) for event in rows] if start < total else [],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": pages,
        "next": page + 1 if page < pages else None,
        "previous": previous or None,
    }


def create_silence(
    rule: str,
    duration: timedelta,
    comment: str,
    route: str = "",
    severity: str = "",
    created_by: str = "",
    now: datetime | None = None,
) -> Silence:
    """Silence alerts of ``rule`` ("" for every rule) from ``now`` for ``duration``.

    Raises ValueError, with one readable sentence, for a duration that is not positive, an
    empty comment, an unknown severity or a value too long for its column.
    """
    if duration <= timedelta(0):
        raise ValueError("the duration must be longer than zero")
    if not comment.strip():
        raise ValueError("a comment is required: say why the alerts are silenced")
    start = _now(now)
    silence = Silence(
        rule=rule,
        route=route,
        severity=severity,
        starts_at=start,
        ends_at=start + duration,
        comment=comment.strip(),
        created_by=created_by,
    )
    try:
        silence.full_clean(exclude=["created_at"])
    except ValidationError as exc:
        problems = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
        raise ValueError("; ".join(problems)) from None
    silence.save()
    return silence


def expire_silence(silence_id: int, now: datetime | None = None) -> Silence:
    """End a silence at ``now`` (one that already ended is left as it is).

    Raises ``Silence.DoesNotExist`` for an unknown id.
    """
    silence = Silence.objects.get(pk=silence_id)
    end = _now(now)
    if silence.ends_at > end:
        silence.ends_at = end
        # A silence that had not begun yet ends without ever having been in force.
        silence.starts_at = min(silence.starts_at, end)
        silence.save(update_fields=["starts_at", "ends_at"])
    return silence
