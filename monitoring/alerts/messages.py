"""What an alert says: its description, its one-line summary, its stable ``dedup_key`` and
the :class:`~monitoring.channels.base.Message` every channel is given."""

from __future__ import annotations

import hashlib
import socket

from django.urls import NoReverseMatch, reverse

from .. import config
from ..baselines import RecordedBaseline, description_fields
from ..channels.base import Message
from .engine import State
from .measures import MEASURES, format_value
from .rules import Rule

Ref = RecordedBaseline | None  # the baseline rules versus the baseline compare with


def dedup_key(rule: str, route: str) -> str:
    """The alert's stable key: the same for its trigger, repeats and resolution."""
    key = f"monitoring/{rule}" + (f"/{route}" if route else "")
    if len(key) > 255:
        key = key[:200] + "/" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return key


def describe(rule: Rule | None, state: State, value: float | None, baseline: Ref = None) -> str:
    """The rule's description template filled in for one alert (a rule versus the baseline
    also names the baseline and its figure)."""
    if rule is None:
        return f"rule {state.rule} was removed"
    measure = MEASURES[rule.metric]
    unit = measure.unit
    route = state.route
    fields = {
        "rule": rule.name,
        "metric": rule.metric,
        "value": format_value(unit, value),
        "operator": rule.operator,
        "threshold": format_value(unit, rule.threshold),
        "window": _window_text(rule.window),
        "route": route or "whole site",
        "on_route": f" on {route}" if route else "",
        "samples": f"{state.samples:.0f}",
        "severity": state.severity,
    }
    if measure.versus is not None:
        fields.update(description_fields(measure.versus, route, value, baseline))
    return rule.description.format(**fields)


def summary(rule: Rule | None, state: State, value: float | None, baseline: Ref = None) -> str:
    """One line: ``high_response_time on /items/<int:pk>/: request_duration_p95 is ...``."""
    where = f" on {state.route}" if state.route else ""
    return f"{state.rule}{where}: {describe(rule, state, value, baseline)}"


def _window_text(seconds: int) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def host_name() -> str:
    return config.get_config()["HOST"] or socket.gethostname()


def alerts_url() -> str | None:
    """Where people look at the alerts: ``SITE_URL`` + the dashboard page."""
    site = config.get_config()["SITE_URL"]
    if not site:
        return None
    try:
        return site.rstrip("/") + reverse("monitoring:index")
    except NoReverseMatch:
        return site


def build_message(
    rule: Rule | None,
    state: State,
    kind: str,
    value: float | None,
    now: float,
    baseline: Ref = None,
) -> Message:
    """The message every channel is given for one alert's firing or resolution."""
    unit = MEASURES[rule.metric].unit if rule else "number"
    labels = {"alertname": state.rule, "severity": state.severity}
    if state.route:
        labels["route"] = state.route
    description = describe(rule, state, value, baseline)
    return Message(
        rule=state.rule,
        status=kind,
        severity=state.severity,
        summary=description,
        description=description,
        labels=labels,
        metric=rule.metric if rule else "",
        operator=rule.operator if rule else "",
        value=value,
        threshold=rule.threshold if rule else 0.0,
        value_text=format_value(unit, value),
        threshold_text=format_value(unit, rule.threshold) if rule else "",
        window_seconds=rule.window if rule else 0,
        started_at=state.fired_at if state.fired_at is not None else state.active_since,
        dedup_key=dedup_key(state.rule, state.route),
        host=host_name(),
        ended_at=now if kind == "resolved" else None,
        runbook_url=rule.runbook_url if rule else None,
        cooldown_seconds=rule.cooldown if rule else None,
        dashboard_url=alerts_url(),
        annotations={"summary": summary(rule, state, value, baseline), "description": description},
    )
