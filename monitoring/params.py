"""Parsing of query parameters; a bad value raises :class:`BadParameter` naming it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from django.http import QueryDict

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# ISO 8601 as people type it: a date, or a date and time with an optional offset (a space
# stands for "+", which a query string turns into one). Without an offset, UTC.
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?(Z|([+ -])([0-9]{2}):([0-9]{2}))?)?"
)


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


def optional_choice(query: QueryDict, name: str, choices: tuple[str, ...]) -> str | None:
    """A parameter that, when given, must be one of ``choices``; None when absent."""
    return choice(query, name, choices, choices[0]) if name in query else None


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


def text(query: QueryDict, name: str, max_length: int) -> str | None:
    """A free-text parameter of 1 to ``max_length`` characters, or None when absent."""
    value = query.get(name)
    if value is not None and not 1 <= len(value) <= max_length:
        raise BadParameter(name, f"{name} must be 1 to {max_length} characters")
    return value


def parse_datetime(text: str) -> datetime:
    """A UTC datetime from ``2026-11-27``, ``2026-11-27T04:40``,
    ``2026-11-27T04:40:00.5+02:00`` or ``...Z``; ValueError otherwise."""
    match = _DATETIME.fullmatch(text)
    if not match:
        raise ValueError(text)
    year, month, day, hour, minute, second, fraction, zone, sign, zh, zm = match.groups()
    offset = timedelta(0)
    if zone and zone != "Z":
        offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
        tzinfo=timezone(offset),
    )
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first moment Python has
        raise ValueError(text) from None


def datetime_param(query: QueryDict, name: str) -> datetime | None:
    """An ISO 8601 date or datetime parameter (UTC without an offset), or None when absent."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        raise BadParameter(
            name, f"{name} must be an ISO 8601 date or time such as 2026-11-27T04:40:00Z"
        ) from None
