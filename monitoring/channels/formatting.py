"""The words every channel uses for a message: its headline, its comparison, its facts.

Pure functions over a :class:`~monitoring.channels.base.Message`, shared by the email and
Slack channels (and PagerDuty's summary), so that an alert reads the same everywhere.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .base import Message

TEST_TAG = "[TEST]"


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) turned into one space."""
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_label(message: Message) -> str:
    """``FIRING``, ``RESOLVED`` or, for a test, ``TEST``."""
    return "TEST" if message.test else message.status.upper()


def headline(message: Message) -> str:
    """One line saying what happened: ``high_error_rate on /items/: error rate 12.5% > 5%``.

    A test message's headline is its summary, always starting with ``[TEST]``.
    """
    if message.test:
        summary = one_line(message.summary)
        return summary if summary.startswith(TEST_TAG) else f"{TEST_TAG} {summary}"
    where = f" on {message.route}" if message.route else ""
    return one_line(f"{message.rule}{where}: {message.summary}")


def comparison(message: Message) -> str:
    """The value against the threshold: ``12.5% > 5%`` while firing.

    Once resolved the value no longer crosses the threshold, so it reads
    ``1.2% (threshold > 5%)``.
    """
    if message.test:
        return "none (test notification)"
    if message.value is None:
        return f"no data (threshold {message.operator} {message.threshold_text})"
    if message.status == "resolved":
        return f"{message.value_text} (threshold {message.operator} {message.threshold_text})"
    return f"{message.value_text} {message.operator} {message.threshold_text}"


def when(epoch: float) -> str:
    """``2026-11-27 04:37:16 UTC``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def facts(message: Message) -> list[tuple[str, str]]:
    """The message as (label, text) pairs, in reading order; links are not included."""
    found = [
        ("Severity", message.severity),
        ("Status", status_label(message).lower()),
        ("Value", comparison(message)),
        ("Route", message.route or "whole site"),
        ("Window", message.window_text),
        ("Host", message.host),
        ("Started", when(message.started_at)),
    ]
    if message.ended_at is not None:
        found.append(("Resolved", when(message.ended_at)))
    return found
