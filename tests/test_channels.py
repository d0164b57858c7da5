"""Slack, PagerDuty and the webhook against a real local receiver: the exact requests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from monitoring.channels.base import Channel, DeliveryError
from monitoring.channels.pagerduty import PagerDutyChannel
from monitoring.channels.slack import SlackChannel
from monitoring.channels.webhook import WebhookChannel
from tests.messages import DASHBOARD, ROUTE, RUNBOOK, resolved_message, sample_message
from tests.receivers import Receiver
from tests.servers import free_port

SECRET_PATH = "/services/T0001/B0002/s3cr3tW3bh00kT0k3n"
ROUTING_KEY = "R0ut1ngK3yS3cr3t0000000000000000"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def channels(url: str, **options: object) -> list[Channel]:
    """One of each HTTP channel, all sending to ``url``."""
    return [
        SlackChannel("slack", {"URL": url, **options}),
        PagerDutyChannel("pagerduty", {"ROUTING_KEY": ROUTING_KEY, "EVENTS_URL": url, **options}),
        WebhookChannel("webhook", {"URL": url, **options}),
    ]


def test_every_channel_classifies_failures(receiver: Receiver) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"
    for channel, dead in zip(channels(receiver.url), channels(closed), strict=True):
        receiver.answer(
            (500, {}, b"oops"), (503, {"Retry-After": "7"}, b""), (404, {}, b"no_service")
        )
        errors = []
        for _ in range(3):
            with pytest.raises(DeliveryError) as caught:
                channel.send(sample_message())
            errors.append(caught.value)
        with pytest.raises(DeliveryError) as refused:
            dead.send(sample_message())
        name = channel.name
        assert [(e.retry, e.retry_after) for e in errors] == [
            (True, None),
            (True, 7.0),
            (False, None),
        ]
        assert errors[2].reason == f"{name} answered HTTP 404: no_service"
        assert (refused.value.retry, refused.value.reason) == (True, f"{name}: connection refused")


def test_every_channel_gives_up_after_its_timeout(receiver: Receiver) -> None:
    for channel in channels(receiver.url, TIMEOUT=0.3):
        receiver.answer(1.0)
        with pytest.raises(DeliveryError) as caught:
            channel.send(sample_message())
        assert caught.value.retry is True
        assert caught.value.reason == f"{channel.name}: timed out after 0.3 s"


# Slack


def slack(url: str, **options: object) -> SlackChannel:
    return SlackChannel("slack", {"URL": url, "TIMEOUT": 2, **options})


def test_slack_posts_block_kit_with_a_text_fallback(receiver: Receiver) -> None:
    slack(receiver.url).send(sample_message())
    [request] = receiver.wait_for(1)
    escaped = "/items/&lt;int:pk&gt;/"
    assert request.json() == {
        "text": f"FIRING [critical] high_error_rate on {escaped}: error rate 12.5% &gt; 5%",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":red_circle: FIRING: high_error_rate",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*high_error_rate on {escaped}: error rate 12.5% &gt; 5%*",
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\ncritical"},
                    {"type": "mrkdwn", "text": "*Value*\n12.5% &gt; 5%"},
                    {"type": "mrkdwn", "text": f"*Route*\n{escaped}"},
                    {"type": "mrkdwn", "text": "*Window*\n5m"},
                    {"type": "mrkdwn", "text": "*Host*\nweb-1"},
                    {
                        "type": "mrkdwn",
                        "text": "*Since*\n<!date^1795000000^{date_short_pretty} {time_secs}"
                        "|2026-11-18 11:06:40 UTC>",
                    },
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "More than 5% of the requests failed."},
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{RUNBOOK}|Runbook>  ·  <{DASHBOARD}|Dashboard>"}
                ],
            },
        ],
    }


def test_slack_resolved_and_test_messages(receiver: Receiver) -> None:
    channel = slack(receiver.url)
    channel.send(resolved_message(labels={"alertname": "high_error_rate"}, runbook_url=None))
    channel.send(
        sample_message(test=True, summary="[TEST] hello", dashboard_url=None, runbook_url=None)
    )
    resolved, test = (request.json() for request in receiver.wait_for(2))
    assert (
        resolved["blocks"][0]["text"]["text"] == ":large_green_circle: RESOLVED: high_error_rate"
    )
    assert resolved["text"] == "RESOLVED [critical] high_error_rate: error rate 12.5% &gt; 5%"
    fields = [field["text"] for field in resolved["blocks"][2]["fields"]]
    assert "*Value*\n1.2% (threshold &gt; 5%)" in fields
    assert "*Route*\nwhole site" in fields
    assert fields[-1].startswith("*Resolved*\n<!date^1795000600^")
    assert resolved["blocks"][-1]["elements"][0]["text"] == f"<{DASHBOARD}|Dashboard>"
    assert test["blocks"][0]["text"]["text"] == ":test_tube: TEST: high_error_rate"
    assert test["text"] == "TEST [critical] [TEST] hello"
    assert all(block["type"] != "context" for block in test["blocks"])  # no links


def test_slack_spacing_destination_and_problems() -> None:
    assert SlackChannel.min_interval == 1.0
    assert slack("https://hooks.slack.com/services/X").destination.endswith("/services/X")
    assert slack("").problems() and not slack("https://hooks.slack.com/x").problems()
    with pytest.raises(DeliveryError) as caught:
        slack("").send(sample_message())
    assert not caught.value.retry


def test_no_secret_in_reasons_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="monitoring")
    reasons = []
    with Receiver(path=SECRET_PATH) as hook:
        # Error pages that echo the request path and the routing key back.
        hook.answer(
            (404, {}, f"<p>No hook at {SECRET_PATH}</p>".encode()),
            (400, {}, f'{{"errors": ["routing_key {ROUTING_KEY} is invalid"]}}'.encode()),
            (500, {}, f"{hook.url} failed".encode()),
        )
        for channel in (
            slack(hook.url),
            PagerDutyChannel("pagerduty", {"ROUTING_KEY": ROUTING_KEY, "EVENTS_URL": hook.url}),
            WebhookChannel("webhook", {"URL": hook.url, "HEADERS": {"X-Token": "t0k3n-h34d3r"}}),
        ):
            with pytest.raises(DeliveryError) as caught:
                channel.send(sample_message())
            reasons.append(caught.value.reason)
        assert len(hook.wait_for(3)) == 3
    assert reasons[0] == "slack answered HTTP 404: No hook at [redacted]"
    assert (
        reasons[1]
        == 'pagerduty answered HTTP 400: {"errors": ["routing_key [redacted] is invalid"]}'
    )
    assert reasons[2] == "webhook answered HTTP 500: [redacted] failed"
    logged = [record.getMessage() for record in caplog.records]
    assert logged  # failures are logged (at debug level)
    for text in reasons + logged:
        assert "s3cr3tW3bh00kT0k3n" not in text and ROUTING_KEY not in text
        assert "t0k3n-h34d3r" not in text


# PagerDuty


def pagerduty(url: str) -> PagerDutyChannel:
    return PagerDutyChannel("pagerduty", {"ROUTING_KEY": ROUTING_KEY, "EVENTS_URL": url})


def test_pagerduty_triggers_then_resolves_one_alert(receiver: Receiver) -> None:
    receiver.answer(*[(202, {}, b'{"status":"success","dedup_key":"k"}')] * 2)
    channel = pagerduty(receiver.url)
    channel.send(sample_message(repeat=True))
    channel.send(resolved_message())
    trigger, resolve = (request.json() for request in receiver.wait_for(2))
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "high_error_rate:/items/<int:pk>/",
        "payload": {
            "summary": f"high_error_rate on {ROUTE}: error rate 12.5% > 5%",
            "source": "web-1",
            "severity": "critical",
            "timestamp": "2026-11-18T11:06:40.250Z",
            "component": ROUTE,
            "group": "django",
            "class": "error_rate",
            "custom_details": {
                "value": "12.5%",
                "threshold": "5%",
                "operator": ">",
                "window": "5m",
                "route": ROUTE,
                "description": "More than 5% of the requests failed.",
                "host": "web-1",
                "rule": "high_error_rate",
                "repeat": True,
            },
        },
        "client": "django-orm-monitoring",
        "client_url": DASHBOARD,
        "links": [{"href": RUNBOOK, "text": "Runbook"}],
    }
    assert resolve == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "high_error_rate:/items/<int:pk>/",
    }


@pytest.mark.parametrize(
    ("severity", "sent"),
    [("critical", "critical"), ("warning", "warning"), ("info", "info"), ("page", "error")],
)
def test_pagerduty_severity(receiver: Receiver, severity: str, sent: str) -> None:
    pagerduty(receiver.url).send(sample_message(severity=severity))
    assert receiver.wait_for(1)[0].json()["payload"]["severity"] == sent


def test_pagerduty_summary_fits_1024_characters(receiver: Receiver) -> None:
    message = sample_message(summary="x" * 2000, labels={}, dashboard_url=None, runbook_url=None)
    pagerduty(receiver.url).send(message)
    event = receiver.wait_for(1)[0].json()
    summary = event["payload"]["summary"]
    assert len(summary) == 1024 and summary.startswith("high_error_rate: xxx")
    assert summary.endswith("x…")
    assert event["payload"]["component"] == "site"
    assert "client_url" not in event and "links" not in event


def test_pagerduty_test_events_are_marked_and_keyed_apart(receiver: Receiver) -> None:
    pagerduty(receiver.url).send(sample_message(test=True, summary="checking"))
    event = receiver.wait_for(1)[0].json()
    assert event["event_action"] == "trigger"
    assert event["payload"]["summary"] == "[TEST] checking"
    assert event["dedup_key"] == "monitoring-test-high_error_rate:/items/<int:pk>/"
    assert event["payload"]["custom_details"]["test"] is True


def test_pagerduty_problems() -> None:
    assert PagerDutyChannel("pagerduty", {}).problems()
    assert not pagerduty("https://events.pagerduty.com/v2/enqueue").problems()
    with pytest.raises(DeliveryError) as caught:
        PagerDutyChannel("pagerduty", {"EVENTS_URL": "http://x"}).send(sample_message())
    assert caught.value.reason == "pagerduty: no routing key configured"


# Webhook (Alertmanager's format)


def test_webhook_sends_alertmanager_payload(receiver: Receiver) -> None:
    channel = WebhookChannel("ops-hook", {"URL": receiver.url})
    channel.send(sample_message(annotations={"team": "shop"}))
    channel.send(resolved_message(notification_id=None))
    firing, resolved = receiver.wait_for(2)
    labels = {"alertname": "high_error_rate", "severity": "critical", "route": ROUTE}
    annotations = {
        "team": "shop",
        "summary": "error rate 12.5% > 5%",
        "description": "More than 5% of the requests failed.",
        "value": "12.5%",
        "threshold": "5%",
        "runbook_url": RUNBOOK,
    }
    assert firing.json() == {
        "version": "4",
        "groupKey": "high_error_rate:/items/<int:pk>/",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops-hook",
        "groupLabels": {"alertname": "high_error_rate"},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": DASHBOARD,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2026-11-18T11:06:40.250Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": DASHBOARD,
                "fingerprint": "552319b3b61d7472",
            }
        ],
    }
    assert firing.headers["Idempotency-Key"] == "high_error_rate:/items/<int:pk>/:42"
    body = resolved.json()
    assert body["status"] == body["alerts"][0]["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2026-11-18T11:16:40.000Z"
    assert body["alerts"][0]["fingerprint"] == "552319b3b61d7472"
    assert body["alerts"][0]["annotations"]["value"] == "1.2%"
    assert "Idempotency-Key" not in resolved.headers


def test_webhook_headers_option_and_problems(receiver: Receiver) -> None:
    WebhookChannel("webhook", {"URL": receiver.url, "HEADERS": {"X-Token": "abc"}}).send(
        sample_message()
    )
    assert receiver.wait_for(1)[0].headers["X-Token"] == "abc"
    assert WebhookChannel("webhook", {}).problems()
    assert WebhookChannel("webhook", {"URL": receiver.url}).destination == receiver.url
