"""Evaluation with I/O at the edges: read the store, run the engine, and record the states,
the history and the outbox in one transaction.

The notifications of a transition are written in the transaction that records it, so a
crash can lose neither: either the transition and its notifications are both stored, or
neither is and the next evaluation sees the same change again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from django.conf import settings
from django.db import router, transaction

from .. import channels, config, runtime
from ..baselines import baseline_for
from ..channels.base import Message
from ..models import AlertEvent, AlertState, Notification, Silence
from ..stores.base import BaseStore
from .dispatch import Outgoing, Plan, plan_notifications
from .engine import Evaluation, Key, State, Transition, evaluate_rules
from .messages import Ref, build_message, dedup_key, summary
from .rules import Rule, load_rules


def to_datetime(epoch: float) -> datetime:
    """An epoch time as the site's database wants it (aware when ``USE_TZ``)."""
    if settings.USE_TZ:
        return datetime.fromtimestamp(epoch, timezone.utc)
    return datetime.fromtimestamp(epoch)


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


class NotLeading(Exception):
    """This copy of the service lost its lease: it must not record an evaluation."""


@dataclass
class Outcome:
    """What one evaluation did."""

    transitions: list[Transition]
    notifications: int
    firing: int
    pending: int


def evaluate_alerts(
    store: BaseStore | None = None,
    now: float | None = None,
    rules: Sequence[Rule] | None = None,
    using: str | None = None,
    fence: Callable[[], bool] | None = None,
) -> Outcome:
    """Evaluate the rules on the store's fleet-wide windows and record the outcome.

    ``using`` names the database of the alert tables (default: the router's choice).
    ``fence`` is asked inside the transaction, before anything is written: when it
    returns False (this copy no longer leads) nothing is recorded and
    :class:`NotLeading` is raised.
    """
    store = runtime.get_store() if store is None else store
    now = store.clock() if now is None else now
    rules = load_rules() if rules is None else list(rules)
    snapshot = {
        seconds: store.read_window(seconds, now=now) for seconds in {r.window for r in rules}
    }
    db = using or router.db_for_write(AlertState)
    cfg = config.get_config()
    baseline = baseline_for((rule.metric for rule in rules), using=db)
    with transaction.atomic(using=db):
        if fence is not None and not fence():
            raise NotLeading
        rows = {(r.rule, r.route): r for r in AlertState.objects.using(db).select_for_update()}
        previous = {key: _state(row) for key, row in rows.items()}
        evaluation = evaluate_rules(rules, snapshot, previous, now, baseline)
        silences = Silence.objects.using(db).filter(
            starts_at__lte=to_datetime(now), ends_at__gt=to_datetime(now)
        )
        plan = plan_notifications(
            rules,
            evaluation,
            list(silences),
            cfg["ALERT_ROUTING"],
            channels.enabled(),
            cfg["ALERT_COOLDOWN"],
            now,
        )
        by_name = {rule.name: rule for rule in rules}
        _Recorder(db, by_name, rows, now, baseline).save(evaluation, plan)
    states = plan.states.values()
    return Outcome(
        evaluation.transitions,
        sum(len(out.channels) for out in plan.outgoing),
        sum(1 for s in states if s.status == "firing"),
        sum(1 for s in states if s.status == "pending"),
    )


def _state(row: AlertState) -> State:
    return State(
        row.rule,
        row.route,
        row.status,
        row.active_since.timestamp(),
        row.severity,
        row.value,
        0,
        to_epoch(row.fired_at),
        to_epoch(row.last_notified_at),
        row.muted,
    )


class _Recorder:
    """Writes one evaluation's states, history and notifications (inside its transaction)."""

    def __init__(
        self,
        db: str,
        rules: dict[str, Rule],
        rows: dict[Key, AlertState],
        now: float,
        baseline: Ref = None,
    ) -> None:
        self.db, self.rules, self.rows, self.now = db, rules, rows, now
        self.baseline = baseline
        self.at = to_datetime(now)

    def save(self, evaluation: Evaluation, plan: Plan) -> None:
        events = {
            id(t): self._event(t, plan.muted.get(t.state.key, "")) for t in evaluation.transitions
        }
        for key, row in self.rows.items():
            if key not in plan.states:
                row.delete()
        for state in plan.states.values():
            self._save_state(state)
        for out in plan.outgoing:
            event = events.get(id(out.transition)) if out.transition is not None else None
            self._enqueue(out, event)

    def _threshold(self, key: Key) -> float:
        rule = self.rules.get(key[0])
        if rule is not None:
            return rule.threshold
        row = self.rows.get(key)
        return row.threshold if row is not None else 0.0

    def _event(self, transition: Transition, muted: str) -> AlertEvent:
        rule = self.rules.get(transition.rule)
        return AlertEvent.objects.using(self.db).create(
            rule=transition.rule,
            route=transition.route,
            severity=transition.state.severity,
            from_state=transition.from_state,
            to_state=transition.to_state,
            value=transition.value,
            threshold=self._threshold(transition.state.key),
            operator=rule.operator if rule else "",
            metric=rule.metric if rule else "",
            window_seconds=rule.window if rule else 0,
            at=self.at,
            summary=summary(rule, transition.state, transition.value, self.baseline)[:1024],
            muted=muted if transition.to_state == "firing" else "",
        )

    def _save_state(self, state: State) -> None:
        rule = self.rules[state.rule]
        fields = {
            "status": state.status,
            "severity": state.severity,
            "value": state.value,
            "threshold": rule.threshold,
            "active_since": to_datetime(state.active_since),
            "fired_at": _maybe_datetime(state.fired_at),
            "last_notified_at": _maybe_datetime(state.last_notified_at),
            "evaluated_at": self.at,
            "dedup_key": dedup_key(state.rule, state.route),
            "summary": summary(rule, state, state.value, self.baseline)[:1024],
            "muted": state.muted,
        }
        row = self.rows.get(state.key)
        if row is None:
            AlertState.objects.using(self.db).create(rule=state.rule, route=state.route, **fields)
            return
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(using=self.db)

    def _enqueue(self, out: Outgoing, event: AlertEvent | None) -> None:
        value = out.transition.value if out.transition is not None else out.state.value
        rule = self.rules.get(out.key[0])
        message = build_message(rule, out.state, out.kind, value, self.now, self.baseline)
        if out.repeat:
            message = Message.from_dict({**message.to_dict(), "repeat": True})
        for channel in out.channels:
            Notification.objects.using(self.db).create(
                event=event,
                channel=channel,
                kind=out.kind,
                dedup_key=message.dedup_key,
                payload=message.to_dict(),
                created_at=self.at,
                next_attempt_at=self.at,
            )


def _maybe_datetime(epoch: float | None) -> datetime | None:
    return None if epoch is None else to_datetime(epoch)
