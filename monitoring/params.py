"""Parsing of query parameters; a bad value raises :class:`BadParameter` naming it."""

from __future__ import annotations

import re

from django.http import QueryDict

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class BadParameter(ValueError):
    """A query parameter that is malformed or out of range."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


def parse_duration(text: str) -> int:
    """Return the seconds of a duration like ``30s``, ``5m``, ``24h``; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * _UNITS[match.group(2)]


def window_seconds(query: QueryDict, retention_seconds: int, default: str = "5m") -> int:
    """The ``window`` parameter in seconds, between one minute and the retention."""
    raw = query.get("window", default)
    try:
        seconds = parse_duration(raw)
    except ValueError:
        raise BadParameter("window", "window must be a duration such as 5m, 1h or 24h") from None
    if not 60 <= seconds <= retention_seconds:
        raise BadParameter(
            "window", f"window must be between 1m and the retention ({retention_seconds // 3600}h)"
        )
    return seconds


def choice(query: QueryDict, name: str, choices: tuple[str, ...], default: str) -> str:
    """A parameter that must be one of ``choices``."""
    value = query.get(name, default)
    if value not in choices:
        raise BadParameter(name, f"{name} must be one of: {', '.join(choices)}")
    return value


def bounded_int(query: QueryDict, name: str, default: int, low: int, high: int) -> int:
    """A whole-number parameter between ``low`` and ``high``."""
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw.strip()):
        raise BadParameter(name, f"{name} must be a whole number between {low} and {high}")
    value = int(raw)
    if not low <= value <= high:
        raise BadParameter(name, f"{name} must be between {low} and {high}")
    return value


def only(query: QueryDict, *accepted: str) -> None:
    """Refuse parameters other than ``accepted`` (a misspelt ``windw`` would otherwise be
    silently ignored and the default used)."""
    for name in query:
        if name not in accepted:
            allowed = ", ".join(accepted) if accepted else "none"
            raise BadParameter(name, f"unknown parameter {name!r}; accepted: {allowed}")
