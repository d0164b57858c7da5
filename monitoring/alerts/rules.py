"""Alert rules as data: the defaults (SPEC §7's seven and ``performance_regression``), the
site's own, and their checks.

``MONITORING['ALERT_RULES']`` maps a rule name to its fields. A default's name overrides
just the fields given (``{"enabled": False}`` switches it off); any other name is a new
rule, which needs at least ``metric``, ``operator`` and ``threshold``::

    MONITORING = {"ALERT_RULES": {
        "high_error_rate": {"threshold": 0.02, "for": "2m"},
        "low_cache_hit_rate": {"enabled": False},
        "checkout_slow": {"metric": "request_duration_p95", "operator": ">",
                          "threshold": 0.5, "route": "/checkout/", "severity": "critical",
                          "runbook_url": "https://wiki.example.com/checkout"},
    }}
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .. import config
from ..params import parse_duration
from .measures import MEASURES
from .runbooks import runbook_url

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": op.gt,
    ">=": op.ge,
    "<": op.lt,
    "<=": op.le,
    "==": op.eq,
    "!=": op.ne,
}
SEVERITIES = ("critical", "warning", "info")
# The description of rules on a measure versus the baseline, unless they set their own.
BASELINE_DESCRIPTION = (
    '{figure} {current} is {value} the baseline "{baseline}" ({baseline_value}) over {window}'
)


@dataclass(frozen=True)
class Rule:
    """One alert rule. Durations are in seconds; ``cooldown`` None means ALERT_COOLDOWN."""

    name: str
    metric: str
    operator: str
    threshold: float
    window: int = 300
    min_samples: float = 0
    group_by_route: bool = False
    route: str | None = None
    for_seconds: int = 0
    severity: str = "warning"
    channels: tuple[str, ...] | None = None
    cooldown: int | None = None
    runbook_url: str | None = None
    description: str = "{metric} is {value} (threshold {operator} {threshold}) over {window}"
    enabled: bool = True

    def breached(self, value: float | None, samples: float) -> bool:
        """Whether a reading breaks the rule: there is a value, enough samples, and the
        comparison holds."""
        return (
            value is not None
            and samples >= self.min_samples
            and OPERATORS[self.operator](value, self.threshold)
        )


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("high_error_rate", "error_rate", ">", 0.05, min_samples=20, for_seconds=60,
         severity="critical"),
    Rule("very_high_response_time", "request_duration_p99", ">", 2.0, min_samples=20,
         group_by_route=True, for_seconds=60, severity="critical"),
    Rule("database_connection_errors", "db_connection_errors", ">", 0, min_samples=1,
         severity="critical"),
    Rule("high_response_time", "request_duration_p95", ">", 1.0, min_samples=20,
         group_by_route=True, for_seconds=300, severity="warning"),
    Rule("slow_database_queries", "query_duration_p95", ">", 0.1, min_samples=50,
         for_seconds=300, severity="warning"),
    Rule("low_cache_hit_rate", "cache_hit_rate", "<", 0.5, min_samples=100, for_seconds=300,
         severity="warning"),
    Rule("high_query_count", "queries_per_request", ">", 50, min_samples=10,
         group_by_route=True, for_seconds=300, severity="warning"),
    # Inactive while no baseline is recorded (manage.py record_baseline).
    Rule("performance_regression", "p95_vs_baseline", ">", 1.5, window=900, min_samples=50,
         group_by_route=True, for_seconds=600, severity="warning",
         description=BASELINE_DESCRIPTION),
)  # fmt: skip

# The fields a description template may use, with example values.
TEMPLATE_EXAMPLE = {
    "rule": "high_error_rate",
    "metric": "error_rate",
    "value": "12.5%",
    "operator": ">",
    "threshold": "5%",
    "window": "5m",
    "route": "/items/<int:pk>/",
    "on_route": " on /items/<int:pk>/",
    "samples": "240",
    "severity": "critical",
}
# The fields only rules on a measure versus the baseline have, with example values.
BASELINE_EXAMPLE = {
    "figure": "p95",
    "current": "1.9 s",
    "baseline": "release-41",
    "baseline_value": "800 ms",
}

# Setting field -> Rule attribute.
FIELDS = {
    "metric": "metric",
    "operator": "operator",
    "threshold": "threshold",
    "window": "window",
    "min_samples": "min_samples",
    "group_by": "group_by_route",
    "route": "route",
    "for": "for_seconds",
    "severity": "severity",
    "channels": "channels",
    "cooldown": "cooldown",
    "runbook_url": "runbook_url",
    "description": "description",
    "enabled": "enabled",
}


class RuleError(ValueError):
    """A rule's field is invalid: says which rule, which field and why."""

    def __init__(self, rule: str, field: str, message: str) -> None:
        super().__init__(f"Alert rule {rule!r}: {field} {message}.")
        self.rule = rule
        self.field = field


def _seconds(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError
        return int(value)
    return parse_duration(str(value))


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError
    return float(value)


def _one_of(choices: Sequence[str], what: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value not in choices:
            raise ValueError(f"is {value!r}; {what}: {', '.join(choices)}")
        return value

    return convert


def _group_by(value: Any) -> bool:
    if value not in (None, "route"):
        raise ValueError('must be "route" or None')
    return value == "route"


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise ValueError("must be a list of channel names")
    return tuple(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be True or False")
    return value


def _text(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string")
    return value


# Setting field -> converter to the Rule attribute (ValueError with a reason when bad).
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "metric": _one_of(list(MEASURES), "known metrics"),
    "operator": _one_of(list(OPERATORS), "use one of"),
    "threshold": _number,
    "min_samples": _number,
    "window": _seconds,
    "for": _seconds,
    "cooldown": _seconds,
    "group_by": _group_by,
    "severity": _one_of(SEVERITIES, "use one of"),
    "channels": _names,
    "enabled": _flag,
    "route": _text,
    "runbook_url": _text,
    "description": _text,
}


def build_rule(name: str, fields: dict[str, Any], base: Rule | None = None) -> Rule:
    """The rule ``name`` from its setting fields, over ``base`` (a default) when given."""
    changes: dict[str, Any] = {}
    for field, value in fields.items():
        if field not in FIELDS:
            raise RuleError(name, field, f"is not a rule field (fields: {', '.join(FIELDS)})")
        try:
            changes[FIELDS[field]] = CONVERTERS[field](value)
        except ValueError as exc:
            raise RuleError(name, field, str(exc) or f"has an invalid value {value!r}") from None
    if base is None:
        missing = [f for f in ("metric", "operator", "threshold") if f not in fields]
        if missing:
            raise RuleError(name, missing[0], "is required for a new rule")
        base = Rule(name, "error_rate", ">", 0.0)
    if changes.get("description", "") is None:
        del changes["description"]
    rule = replace(base, **changes)
    if MEASURES[rule.metric].versus and rule.description == Rule.description:
        rule = replace(rule, description=BASELINE_DESCRIPTION)
    _check_whole(rule)
    return rule


def template_fields(rule: Rule) -> dict[str, str]:
    """The fields ``rule``'s description may use, with example values."""
    if MEASURES[rule.metric].versus is None:
        return TEMPLATE_EXAMPLE
    return {**TEMPLATE_EXAMPLE, **BASELINE_EXAMPLE}


def _check_whole(rule: Rule) -> None:
    measure = MEASURES[rule.metric]
    fields = template_fields(rule)
    try:
        rule.description.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise RuleError(
            rule.name,
            "description",
            f"cannot be formatted ({exc!r}); fields: {', '.join(fields)}",
        ) from None
    if (rule.group_by_route or rule.route) and not measure.by_route:
        field = "group_by" if rule.group_by_route else "route"
        raise RuleError(rule.name, field, f"cannot apply: {rule.metric} has no route")
    if not 60 <= rule.window <= config.get_config()["RETENTION_HOURS"] * 3600:
        raise RuleError(rule.name, "window", "must be between 1m and the retention")
    for channel in rule.channels or ():
        from ..channels import channel_options

        if channel not in channel_options():
            raise RuleError(rule.name, "channels", f"names an unknown channel {channel!r}")


def load_rules(cfg: dict[str, Any] | None = None) -> list[Rule]:
    """The enabled rules: the defaults with the site's overrides, then the site's own.

    An invalid rule is left out here (the system checks report it). A rule without a
    ``runbook_url`` that has a page in ``docs/runbooks/`` links to it under
    ``RUNBOOK_BASE_URL`` when that is set.
    """
    cfg = config.get_config() if cfg is None else cfg
    base = cfg["RUNBOOK_BASE_URL"]
    return [
        replace(rule, runbook_url=rule.runbook_url or runbook_url(rule.name, base))
        for rule in _all_rules(cfg)[0]
        if rule.enabled
    ]


def rule_errors(cfg: dict[str, Any] | None = None) -> list[RuleError]:
    """Every invalid rule setting (reported as ``monitoring.E022``)."""
    return _all_rules(cfg)[1]


def _all_rules(cfg: dict[str, Any] | None) -> tuple[list[Rule], list[RuleError]]:
    settings = (config.get_config() if cfg is None else cfg)["ALERT_RULES"]
    defaults = {rule.name: rule for rule in DEFAULT_RULES}
    rules: list[Rule] = []
    errors: list[RuleError] = []
    for name in [*defaults, *(n for n in settings if n not in defaults)]:
        try:
            rules.append(build_rule(name, settings.get(name, {}), defaults.get(name)))
        except RuleError as exc:
            errors.append(exc)
            if name in defaults:
                # A bad override keeps the default rule watching rather than none at all.
                rules.append(defaults[name])
    return rules, errors
