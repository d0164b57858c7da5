"""Test notifications: a clearly marked message, sent straight through one channel.

Used by ``manage.py send_test_alert`` to check a channel's configuration end to end. The
message goes out synchronously, not through the outbox, so the answer is immediate.
"""

from __future__ import annotations

import socket
import time
import uuid

from .. import config
from . import BUILTIN, channel_options, get_channel
from .base import DeliveryError, Message
from .pagerduty import TEST_KEY_PREFIX

TEST_RULE = "monitoring_test"


def build_test_message(*, host: str | None = None, severity: str = "info") -> Message:
    """A firing message marked as a test everywhere (``test=True``, ``[TEST]`` summary).

    Its ``dedup_key`` is new each time, so a test never merges into a real incident.
    """
    host = host or config.get_config()["HOST"] or socket.gethostname()
    return Message(
        rule=TEST_RULE,
        status="firing",
        severity=severity,
        summary=f"[TEST] monitoring test notification from {host}",
        description=(
            "This is a test sent by manage.py send_test_alert to check that alerts reach "
            "this channel. No alert is firing and nothing needs to be done."
        ),
        labels={"alertname": TEST_RULE, "severity": severity, "test": "true"},
        metric=TEST_RULE,
        operator=">",
        value=None,
        threshold=0.0,
        value_text="n/a",
        threshold_text="n/a",
        window_seconds=300,
        started_at=time.time(),
        dedup_key=f"{TEST_KEY_PREFIX}{uuid.uuid4().hex}",
        host=host,
        test=True,
    )


def send_test_message(name: str, message: Message) -> str | None:
    """Send ``message`` through the channel ``name`` now; ``None`` if sent, else why not."""
    options = channel_options()
    if name not in options:
        known = ", ".join(sorted(options))
        return f"there is no channel called {name!r} (known: {known})"
    if not options[name].get("ENABLED"):
        switch = BUILTIN[name][1] if name in BUILTIN else f"ALERT_CHANNELS[{name!r}]['ENABLED']"
        return f"the channel is disabled (set {switch} to true)"
    channel = get_channel(name)
    problems = channel.problems()
    if problems:
        return "; ".join(problems)
    try:
        channel.send(message)
    except DeliveryError as exc:
        return exc.reason
    return None
