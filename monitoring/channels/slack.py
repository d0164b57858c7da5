"""Alerts in Slack, through an incoming webhook (option ``URL``, i.e. ``SLACK_WEBHOOK_URL``).

Each message is one Block Kit post: a header, the facts as fields, the description, the
runbook and dashboard links, and a one-line ``text`` fallback for notifications. Slack
answers ``200 ok``; its errors are short texts (``invalid_payload``, ``no_service``,
``channel_is_archived``) that end up in the delivery error's reason.
"""

from __future__ import annotations

from typing import Any

from .base import HttpChannel, Message
from .formatting import comparison, headline, one_line, status_label, truncate, when
from .http import post_json

# Slack's limits: header text 150 characters, section text 3000, a field 2000.
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000

EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


def escape(text: str) -> str:
    """``text`` safe in Slack mrkdwn: ``&``, ``<`` and ``>`` are Slack's control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def emoji(message: Message) -> str:
    """:test_tube: for a test, :large_green_circle: when resolved, else by severity."""
    if message.test:
        return ":test_tube:"
    if message.status == "resolved":
        return ":large_green_circle:"
    return EMOJI.get(message.severity, ":large_blue_circle:")


def slack_date(epoch: float) -> str:
    """A date Slack shows in each reader's own time zone (UTC text as the fallback)."""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time_secs}}|{when(epoch)}>"


def fallback_text(message: Message) -> str:
    """The notification line: ``FIRING [critical] high_error_rate: error rate 12.5% > 5%``."""
    text = f"{status_label(message)} [{message.severity}] {headline(message)}"
    return escape(truncate(text, SECTION_CHARS))


def _fields(message: Message) -> list[dict[str, str]]:
    rows = [
        ("Severity", escape(message.severity)),
        ("Value", escape(comparison(message))),
        ("Route", escape(message.route) if message.route else "whole site"),
        ("Window", message.window_text),
        ("Host", escape(message.host)),
        ("Since", slack_date(message.started_at)),
    ]
    if message.ended_at is not None:
        rows.append(("Resolved", slack_date(message.ended_at)))
    return [
        {"type": "mrkdwn", "text": truncate(f"*{label}*\n{text}", FIELD_CHARS)}
        for label, text in rows
    ]


def _links(message: Message) -> list[str]:
    found = [("Runbook", message.runbook_url), ("Dashboard", message.dashboard_url)]
    # In <url|label>, "|" ends the URL, so it is percent-encoded.
    return [f"<{escape(url).replace('|', '%7C')}|{label}>" for label, url in found if url]


def slack_payload(message: Message) -> dict[str, Any]:
    """The webhook's JSON body for ``message``."""
    title = f"{emoji(message)} {status_label(message)}: {one_line(message.rule)}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": truncate(title, HEADER_CHARS), "emoji": True},
        },
        _section(f"*{escape(headline(message))}*"),
        {"type": "section", "fields": _fields(message)},
    ]
    if message.description.strip():
        blocks.append(_section(escape(message.description.strip())))
    links = _links(message)
    if links:
        blocks.append({"type": "context", "elements": [_mrkdwn("  ·  ".join(links))]})
    return {"text": fallback_text(message), "blocks": blocks}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, SECTION_CHARS)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


class SlackChannel(HttpChannel):
    """Posts each message to a Slack incoming webhook."""

    # Slack accepts about one message per second per webhook; the outbox spaces them.
    min_interval = 1.0
    url_setting = "SLACK_WEBHOOK_URL"
    url_noun = "webhook URL"

    def send(self, message: Message) -> None:
        url = self.require_url()
        post_json(
            url, slack_payload(message), timeout=self.timeout, what=self.name, headers=self.headers
        )
