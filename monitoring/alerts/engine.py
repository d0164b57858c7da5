"""The alert engine: a pure function from (rules, store snapshot, previous states, now) to
new states and the transitions between them. No I/O, no clock: everything is passed in.

Lifecycle of one alert (one rule, or one rule and route when the rule groups by route)::

    ok --breach--> pending --breach for `for` seconds--> firing --no breach--> resolved (ok)
          pending --no breach before `for` ran out--> ok

A rule with ``for`` 0 goes from ok straight to firing. A reading with fewer samples than
the rule's ``min_samples`` is not a breach (as its Prometheus export, which drops such
series). An alert whose rule is gone or switched off resolves.

Rules on a measure versus the baseline (``performance_regression``) read the baseline the
caller passes in, as data; without one they have no value, so they never fire.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..window import Window
from .measures import MEASURES, Reading, read_measure, routes
from .rules import Rule

if TYPE_CHECKING:
    from ..baselines import RecordedBaseline

Key = tuple[str, str]  # (rule name, route); route "" for a rule over the whole site

PENDING, FIRING, RESOLVED, OK = "pending", "firing", "resolved", "ok"


@dataclass(frozen=True)
class State:
    """An alert that is pending or firing (an alert that is ok has no state)."""

    rule: str
    route: str
    status: str
    active_since: float
    severity: str = "warning"
    value: float | None = None
    samples: float = 0
    fired_at: float | None = None
    last_notified_at: float | None = None
    muted: str = ""

    @property
    def key(self) -> Key:
        return (self.rule, self.route)


@dataclass(frozen=True)
class Transition:
    """One alert changing state at ``at``; ``state`` is the state after it (before it, for
    ``resolved`` and ``ok``)."""

    rule: str
    route: str
    from_state: str
    to_state: str
    value: float | None
    samples: float
    at: float
    state: State


@dataclass
class Evaluation:
    """The result of one evaluation: the alerts now pending or firing, and what changed."""

    states: dict[Key, State] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)


def readings(
    rule: Rule,
    window: Window,
    known_routes: Iterable[str] = (),
    baseline: RecordedBaseline | None = None,
) -> dict[str, Reading]:
    """The rule's readings by route ("" for the whole site).

    ``known_routes`` are routes with a live alert: read even when they had no traffic, so
    that their alert can resolve.
    """
    measure = MEASURES[rule.metric]
    if rule.route is not None:
        return {rule.route: read_measure(measure, window, rule.route, baseline)}
    if not rule.group_by_route:
        return {"": read_measure(measure, window, None, baseline)}
    wanted = set(routes(window)) | set(known_routes)
    return {route: read_measure(measure, window, route, baseline) for route in sorted(wanted)}


def _step(
    rule: Rule, route: str, reading: Reading, before: State | None, now: float
) -> State | None:
    """The state after one reading (None: ok)."""
    value, samples = reading
    if not rule.breached(value, samples):
        return None
    if before is None:
        status = FIRING if rule.for_seconds == 0 else PENDING
        fired = now if status == FIRING else None
        return State(rule.name, route, status, now, rule.severity, value, samples, fired)
    # Times read back from the database may differ from the ones written by a rounding
    # error; a millisecond's slack keeps "exactly `for` later" firing.
    if before.status == PENDING and now - before.active_since >= rule.for_seconds - 1e-3:
        before = replace(before, status=FIRING, fired_at=now)
    return replace(before, severity=rule.severity, value=value, samples=samples)


def evaluate_rules(
    rules: Sequence[Rule],
    snapshot: Mapping[int, Window],
    previous: Mapping[Key, State],
    now: float,
    baseline: RecordedBaseline | None = None,
) -> Evaluation:
    """Evaluate every rule on the snapshot (windows by their length in seconds).

    ``snapshot`` must hold a window for each rule's ``window``. ``baseline`` is what rules
    on a measure versus the baseline compare with (None: they never fire).
    """
    result = Evaluation()
    for rule in rules:
        live = [route for (name, route) in previous if name == rule.name]
        window = snapshot[rule.window]
        for route, reading in readings(rule, window, live, baseline).items():
            before = previous.get((rule.name, route))
            after = _step(rule, route, reading, before, now)
            if after is not None:
                result.states[after.key] = after
            _record(result, before, after, reading, now)
    names = {rule.name for rule in rules}
    for key, before in previous.items():
        if key[0] not in names:
            _record(result, before, None, (None, 0), now)
    return result


def _record(
    result: Evaluation, before: State | None, after: State | None, reading: Reading, now: float
) -> None:
    old = before.status if before is not None else OK
    new = after.status if after is not None else (OK if old in (OK, PENDING) else RESOLVED)
    if old == new:
        return
    state = after if after is not None else before
    assert state is not None
    result.transitions.append(
        Transition(state.rule, state.route, old, new, reading[0], reading[1], now, state)
    )
