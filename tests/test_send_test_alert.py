"""``manage.py send_test_alert`` against local receivers and Django's locmem email."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.receivers import Receiver


@pytest.fixture
def hooks() -> Iterator[dict[str, Receiver]]:
    with Receiver() as slack, Receiver() as pagerduty, Receiver() as webhook:
        pagerduty.default = (202, {}, b'{"status":"success"}')
        yield {"slack": slack, "pagerduty": pagerduty, "webhook": webhook}


def monitoring(hooks: dict[str, Receiver], **overrides: Any) -> dict[str, Any]:
    """Every built-in channel configured against ``hooks``; none enabled unless asked."""
    return {
        **settings.MONITORING,
        "HOST": "web-test",
        "SLACK_WEBHOOK_URL": hooks["slack"].url,
        "PAGERDUTY_ROUTING_KEY": "k" * 32,
        "PAGERDUTY_EVENTS_URL": hooks["pagerduty"].url,
        "ALERT_WEBHOOK_URL": hooks["webhook"].url,
        "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"],
        "ALERT_HTTP_TIMEOUT": 2,
        **overrides,
    }


def run(channel: str) -> str:
    out = io.StringIO()
    call_command("send_test_alert", "--channel", channel, stdout=out)
    return out.getvalue()


def failure(channel: str) -> str:
    with pytest.raises(CommandError) as caught:
        run(channel)
    message = str(caught.value)
    assert "\n" not in message
    return message


SUMMARY = "[TEST] monitoring test notification from web-test"


def test_slack(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks, ALERT_SLACK_ENABLED=True)):
        assert run("slack") == "slack: sent\n"
    body = hooks["slack"].wait_for(1)[0].json()
    assert body["blocks"][0]["text"]["text"] == ":test_tube: TEST: monitoring_test"
    assert body["text"] == f"TEST [info] {SUMMARY}"


def test_pagerduty(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks, ALERT_PAGERDUTY_ENABLED=True)):
        assert run("pagerduty") == "pagerduty: sent\n"
        run("pagerduty")
    first, second = (request.json() for request in hooks["pagerduty"].wait_for(2))
    assert first["event_action"] == "trigger"
    assert first["payload"]["summary"] == SUMMARY
    assert first["payload"]["source"] == "web-test"
    assert first["dedup_key"].startswith("monitoring-test-")
    assert first["dedup_key"] != second["dedup_key"]


def test_webhook(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks, ALERT_WEBHOOK_ENABLED=True)):
        assert run("webhook") == "webhook: sent\n"
    body = hooks["webhook"].wait_for(1)[0].json()
    assert body["alerts"][0]["labels"] == {
        "alertname": "monitoring_test",
        "severity": "info",
        "test": "true",
    }
    assert body["commonAnnotations"]["summary"] == SUMMARY


def test_email(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks, ALERT_EMAIL_ENABLED=True)):
        assert run("email") == "email: sent\n"
    [email] = mail.outbox
    assert (email.subject, email.to) == (SUMMARY, ["ops@example.com"])


def test_all_sends_through_every_enabled_channel(hooks: dict[str, Receiver]) -> None:
    switches = {"ALERT_SLACK_ENABLED": True, "ALERT_WEBHOOK_ENABLED": True}
    with override_settings(MONITORING=monitoring(hooks, ALERT_EMAIL_ENABLED=True, **switches)):
        assert run("all") == "email: sent\nslack: sent\nwebhook: sent\n"
    assert len(hooks["slack"].wait_for(1)) == len(hooks["webhook"].wait_for(1)) == 1
    assert len(mail.outbox) == 1
    assert hooks["pagerduty"].requests == []


def test_all_with_nothing_enabled(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks)):
        assert failure("all").startswith("no alert channel is enabled")


def test_disabled_and_unknown_channels(hooks: dict[str, Receiver]) -> None:
    with override_settings(MONITORING=monitoring(hooks)):
        assert failure("slack") == (
            "slack: not sent: the channel is disabled (set ALERT_SLACK_ENABLED to true)"
        )
        assert failure("teams") == (
            "teams: not sent: there is no channel called 'teams' "
            "(known: alertmanager, email, pagerduty, slack, webhook)"
        )
    assert hooks["slack"].requests == []


def test_a_channel_with_problems(hooks: dict[str, Receiver]) -> None:
    config = monitoring(hooks, ALERT_SLACK_ENABLED=True, SLACK_WEBHOOK_URL=None)
    with override_settings(MONITORING=config):
        assert failure("slack").startswith("slack: not sent: no webhook URL")


def test_failing_channels_make_one_line(hooks: dict[str, Receiver]) -> None:
    hooks["slack"].answer((404, {}, b"no_service"))
    hooks["webhook"].answer((500, {}, b"boom"))
    switches = {"ALERT_SLACK_ENABLED": True, "ALERT_WEBHOOK_ENABLED": True}
    with override_settings(MONITORING=monitoring(hooks, ALERT_EMAIL_ENABLED=True, **switches)):
        assert failure("slack") == "slack: not sent: slack answered HTTP 404: no_service"
        hooks["slack"].answer((404, {}, b"no_service"))
        assert failure("all") == (
            "slack: not sent: slack answered HTTP 404: no_service; "
            "webhook: not sent: webhook answered HTTP 500: boom"
        )
    assert len(mail.outbox) == 1  # the channel that works still got its test


def test_a_channel_of_alert_channels(hooks: dict[str, Receiver]) -> None:
    extra = {
        "ops": {"CLASS": "monitoring.channels.webhook.WebhookChannel", "URL": hooks["webhook"].url}
    }
    with override_settings(MONITORING=monitoring(hooks, ALERT_CHANNELS=extra)):
        assert run("ops") == "ops: sent\n"
    assert hooks["webhook"].wait_for(1)[0].json()["receiver"] == "ops"
