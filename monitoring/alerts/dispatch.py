"""Who is told what: notifications planned from an evaluation, with silences, inhibition,
repeat intervals and severity routing. Pure, like the engine: the caller passes the time,
the active silences, the routing and the enabled channels.

- A firing alert notifies once; while it keeps firing it notifies again only after its
  cooldown (the rule's, else ``ALERT_COOLDOWN``).
- A resolved alert notifies its resolution when its firing was notified.
- A silenced alert, and a warning or info alert whose route has a firing critical alert
  (inhibition, as Alertmanager's ``equal: [route]``), notify no one; their transitions are
  still recorded, with the reason in ``muted``. When the silence ends, a still-firing
  alert notifies at the next evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from .engine import FIRING, RESOLVED, Evaluation, Key, State, Transition
from .rules import Rule


class SilenceLike(Protocol):
    id: int | None

    def matches(self, rule: str, route: str, severity: str) -> bool: ...


@dataclass(frozen=True)
class Outgoing:
    """One notification to send: an alert's firing (or repeat) or resolution."""

    key: Key
    kind: str  # "firing" or "resolved"
    channels: tuple[str, ...]
    state: State
    repeat: bool = False
    transition: Transition | None = None


@dataclass
class Plan:
    states: dict[Key, State]
    outgoing: list[Outgoing]
    muted: dict[Key, str]


def channels_for(
    state: State,
    rule: Rule | None,
    routing: Mapping[str, Sequence[str]],
    enabled: Sequence[str],
) -> tuple[str, ...]:
    """The enabled channels an alert goes to: its rule's own list, else its severity's."""
    if rule is not None and rule.channels is not None:
        wanted: Sequence[str] = rule.channels
    else:
        wanted = routing.get(state.severity, ())
    return tuple(name for name in wanted if name in enabled)


def mute_reason(state: State, states: Mapping[Key, State], silences: Sequence[SilenceLike]) -> str:
    """Why ``state`` notifies no one ("" when it notifies)."""
    for silence in silences:
        if silence.matches(state.rule, state.route, state.severity):
            return f"silence {silence.id}"
    if state.severity != "critical":
        for other in states.values():
            if (
                other.status == FIRING
                and other.severity == "critical"
                and other.route == state.route
            ):
                return f"inhibited by {other.rule}"
    return ""


def plan_notifications(
    rules: Sequence[Rule],
    evaluation: Evaluation,
    silences: Sequence[SilenceLike],
    routing: Mapping[str, Sequence[str]],
    enabled: Sequence[str],
    default_cooldown: float,
    now: float,
) -> Plan:
    """The notifications an evaluation calls for, and the states updated with them."""
    by_name = {rule.name: rule for rule in rules}
    states = dict(evaluation.states)
    plan = Plan(states, [], {})
    fired = {t.state.key: t for t in evaluation.transitions if t.to_state == FIRING}
    for key, state in evaluation.states.items():
        if state.status != FIRING:
            continue
        rule = by_name[state.rule]
        reason = mute_reason(state, evaluation.states, silences)
        plan.muted[key] = reason
        states[key] = replace(state, muted=reason)
        cooldown = rule.cooldown if rule.cooldown is not None else default_cooldown
        last = state.last_notified_at
        if reason or (last is not None and now - last < cooldown):
            continue
        states[key] = replace(states[key], last_notified_at=now)
        channels = channels_for(state, rule, routing, enabled)
        if channels:
            plan.outgoing.append(
                Outgoing(key, FIRING, channels, states[key], last is not None, fired.get(key))
            )
    for transition in evaluation.transitions:
        if transition.to_state == RESOLVED and transition.state.last_notified_at is not None:
            channels = channels_for(
                transition.state, by_name.get(transition.rule), routing, enabled
            )
            if channels:
                plan.outgoing.append(
                    Outgoing(
                        transition.state.key,
                        RESOLVED,
                        channels,
                        transition.state,
                        False,
                        transition,
                    )
                )
    return plan
