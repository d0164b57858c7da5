"""The outbox: every notification reaches its channel once, in order, through outages.

Slack, PagerDuty and a webhook receiver are real HTTP servers on 127.0.0.1 (tests.receivers);
email goes through Django's locmem backend. Time is passed in (``now``), so backoff is
checked without waiting for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import override_settings

from monitoring.alerts import delivery
from monitoring.alerts.delivery import backoff, deliver_notifications
from monitoring.alerts.service import evaluate_alerts, to_datetime
from monitoring.models import Notification
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, write_traffic
from tests.conftest import Clock
from tests.messages import sample_message
from tests.receivers import Receiver

pytestmark = pytest.mark.django_db

ACCEPTED = (202, {}, b'{"status":"success","message":"Event processed"}')
BURST = Traffic().requests("/a/", 60).requests("/a/", 40, status=500)


@pytest.fixture
def pagerduty() -> Iterator[Receiver]:
    with Receiver("/v2/enqueue", ACCEPTED) as receiver:
        yield receiver


@pytest.fixture
def slack() -> Iterator[Receiver]:
    with Receiver("/services/T0/B0/secret", (200, {}, b"ok")) as receiver:
        yield receiver


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with Receiver("/alerts", (200, {}, b"")) as receiver:
        yield receiver


@pytest.fixture
def channels(pagerduty: Receiver, slack: Receiver, webhook: Receiver) -> Iterator[dict[str, Any]]:
    monitoring = {
        "STORE_URL": "memory://",
        "HOST": "web-1",
        "ALERT_PAGERDUTY_ENABLED": True,
        "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY0000000000000000000000",
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
        "ALERT_SLACK_ENABLED": True,
        "SLACK_WEBHOOK_URL": slack.url,
        "ALERT_WEBHOOK_ENABLED": True,
        "ALERT_WEBHOOK_URL": webhook.url,
        "ALERT_EMAIL_ENABLED": True,
        "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"],
        "ALERT_HTTP_TIMEOUT": 0.5,
    }
    with override_settings(MONITORING=monitoring):
        yield monitoring


def queue(channel: str, kind: str = "firing", at: float = 1_700_000_000.0) -> Notification:
    message = sample_message(status=kind, notification_id=None)
    return Notification.objects.create(
        channel=channel,
        kind=kind,
        dedup_key=message.dedup_key,
        payload=message.to_dict(),
        created_at=to_datetime(at),
        next_attempt_at=to_datetime(at),
    )


def deliver(now: float) -> delivery.DeliveryReport:
    return deliver_notifications(now=now, parallel=False)


def fire_and_resolve(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    write_traffic(store, BURST, clock.now - 5)
    evaluate_alerts(store)
    clock.advance(60)
    evaluate_alerts(store)  # firing: one row per channel
    deliver(clock.now)
    clock.advance(400)
    evaluate_alerts(store)  # resolved
    deliver(clock.now)


def test_a_burst_gives_one_page_one_slack_one_email_one_webhook_then_resolutions(
    channels: dict, pagerduty: Receiver, slack: Receiver, webhook: Receiver, clock: Clock
) -> None:
    fire_and_resolve(clock)
    trigger, resolve = (r.json() for r in pagerduty.requests)
    assert len(pagerduty.requests) == 2
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "monitoring/high_error_rate"
    assert trigger["routing_key"] == resolve["routing_key"] == channels["PAGERDUTY_ROUTING_KEY"]
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "web-1"
    assert trigger["payload"]["summary"] == (
        "high_error_rate: error_rate is 40% (threshold > 5%) over 5m"
    )
    assert [r.json()["text"].split()[0] for r in slack.requests] == ["FIRING", "RESOLVED"]
    firing, resolved = (r.json() for r in webhook.requests)
    assert (firing["status"], resolved["status"]) == ("firing", "resolved")
    assert firing["groupKey"] == resolved["groupKey"] == "monitoring/high_error_rate"
    assert [m.subject.split("]")[0] for m in mail.outbox] == ["[FIRING:CRITICAL", "[RESOLVED"]
    assert mail.outbox[0].to == ["ops@example.com"]
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_an_outage_of_three_failures_then_recovery(channels: dict, pagerduty: Receiver) -> None:
    row = queue("pagerduty")
    pagerduty.answer((500, {}, b"oops"), (502, {}, b""), (503, {}, b""))
    now = 1_700_000_000.0
    waits = []
    for _ in range(3):
        report = deliver(now)
        assert report.retried == {"pagerduty": 1}
        row.refresh_from_db()
        assert row.status == "pending" and "HTTP 5" in row.last_error
        wait = row.next_attempt_at.timestamp() - now
        waits.append(wait)
        assert deliver(now + wait - 1).sent == {}  # not due yet: nothing is sent
        now += wait
    assert deliver(now).sent == {"pagerduty": 1}
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 4)
    bodies = [r.body for r in pagerduty.requests]
    assert len(bodies) == 4 and len(set(bodies)) == 1  # the same event each time
    # Exponential backoff with jitter: each wait within [base/2, base] * 2 ** attempt.
    for attempt, wait in enumerate(waits):
        ceiling = delivery.BACKOFF_BASE * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_429_is_retried_after_retry_after(channels: dict, slack: Receiver) -> None:
    row = queue("slack")
    slack.answer((429, {"Retry-After": "120"}, b"rate_limited"))
    now = 1_700_000_000.0
    deliver(now)
    row.refresh_from_db()
    assert row.next_attempt_at.timestamp() >= now + 120
    assert deliver(now + 119).sent == {} and len(slack.requests) == 1
    assert deliver(now + 121).sent == {"slack": 1} and len(slack.requests) == 2


def test_a_400_is_not_retried_and_is_logged_without_secrets(
    channels: dict, slack: Receiver, pagerduty: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    bad = queue("slack")
    queue("pagerduty")
    slack.answer((400, {}, b"invalid_payload"))
    with caplog.at_level(logging.WARNING, logger="monitoring.alerts"):
        report = deliver(1_700_000_000.0)
    assert report.failed == {"slack": 1} and report.sent == {"pagerduty": 1}
    bad.refresh_from_db()
    assert bad.status == "failed" and bad.last_error == "slack answered HTTP 400: invalid_payload"
    deliver(1_700_100_000.0)
    assert len(slack.requests) == 1  # never sent again
    logged = caplog.text
    assert "invalid_payload" in logged
    assert slack.url not in logged and "secret" not in logged
    assert channels["PAGERDUTY_ROUTING_KEY"] not in logged


def test_a_404_marks_the_row_failed(channels: dict, webhook: Receiver) -> None:
    row = queue("webhook")
    webhook.answer((404, {}, b"no such receiver"))
    assert deliver(1_700_000_000.0).failed == {"webhook": 1}
    row.refresh_from_db()
    assert row.status == "failed"


def test_a_timeout_is_retried_and_pagerduty_dedups_it(channels: dict, pagerduty: Receiver) -> None:
    row = queue("pagerduty")
    pagerduty.answer(1.5)  # answers after the 0.5 s timeout
    assert deliver(1_700_000_000.0).retried == {"pagerduty": 1}
    row.refresh_from_db()
    assert "timed out" in row.last_error
    assert deliver(row.next_attempt_at.timestamp()).sent == {"pagerduty": 1}
    first, second = pagerduty.wait_for(2)
    assert first.json()["dedup_key"] == second.json()["dedup_key"]
    assert first.body == second.body


def test_a_resolution_never_overtakes_its_trigger(channels: dict, pagerduty: Receiver) -> None:
    queue("pagerduty", "firing")
    queue("pagerduty", "resolved")
    pagerduty.answer((503, {}, b""))
    deliver(1_700_000_000.0)
    assert [r.json()["event_action"] for r in pagerduty.requests] == ["trigger"]
    deliver(1_700_001_000.0)
    assert [r.json()["event_action"] for r in pagerduty.requests] == [
        "trigger",
        "trigger",
        "resolve",
    ]


def test_rows_are_never_sent_twice(channels: dict, pagerduty: Receiver) -> None:
    queue("pagerduty")
    deliver(1_700_000_000.0)
    deliver(1_700_000_100.0)
    assert len(pagerduty.requests) == 1


def test_a_claimed_row_is_left_alone_until_its_claim_lapses(
    channels: dict, pagerduty: Receiver
) -> None:
    row = queue("pagerduty")
    now = 1_700_000_000.0
    Notification.objects.filter(id=row.id).update(claimed_until=to_datetime(now + 30))
    assert deliver(now).sent == {} and pagerduty.requests == []
    assert deliver(now + 31).sent == {"pagerduty": 1}


def test_a_row_failing_past_the_give_up_time_is_marked_failed(
    channels: dict, pagerduty: Receiver
) -> None:
    row = queue("pagerduty", at=1_700_000_000.0)
    pagerduty.answer((503, {}, b""))
    report = deliver(1_700_000_000.0 + 24 * 3600 + 1)
    assert report.failed == {"pagerduty": 1}
    row.refresh_from_db()
    assert row.status == "failed" and row.last_error.startswith("gave up after 1 attempts")


def test_a_channel_that_is_no_longer_configured_fails_its_rows(channels: dict) -> None:
    row = queue("teams")
    assert deliver(1_700_000_000.0).failed == {"teams": 1}
    row.refresh_from_db()
    assert row.status == "failed" and "teams" in row.last_error


def test_backoff_honours_retry_after_and_stays_bounded() -> None:
    assert backoff(1, retry_after=300) >= 300
    assert backoff(40) <= delivery.BACKOFF_CAP
    assert backoff(1, retry_after=10**9) <= delivery.RETRY_AFTER_CAP + delivery.BACKOFF_CAP


def test_old_delivered_rows_are_purged(channels: dict) -> None:
    old = queue("slack", at=1_600_000_000.0)
    Notification.objects.filter(id=old.id).update(status="sent")
    pending = queue("slack", at=1_600_000_000.0)
    assert delivery.purge_notifications(1_650_000_000.0) == 1
    assert list(Notification.objects.values_list("id", flat=True)) == [pending.id]
    assert timedelta(0) is not None


def test_the_example_shop_pages_once_and_resolves_once(
    channels: dict, pagerduty: Receiver, slack: Receiver, monitored: Any
) -> None:
    import time

    from django.test import Client

    from monitoring import runtime

    client = Client(raise_request_exception=False)
    for _ in range(25):
        assert client.get("/error/").status_code == 500
        assert client.get("/products/").status_code == 200
    runtime.flush()
    start = time.time()
    for now in (start, start + 60, start + 120, start + 180):  # pending, firing, firing...
        evaluate_alerts(now=now)
        deliver(now)
    assert len(pagerduty.requests) == len(slack.requests) == len(mail.outbox) == 1
    evaluate_alerts(now=start + 400)  # the burst has left the window
    deliver(start + 400)
    actions = [r.json()["event_action"] for r in pagerduty.requests]
    assert actions == ["trigger", "resolve"]
    assert [r.json()["text"].split()[0] for r in slack.requests] == ["FIRING", "RESOLVED"]
    assert [m.subject.split("]")[0] for m in mail.outbox] == ["[FIRING:CRITICAL", "[RESOLVED"]
    assert "error_rate is 50%" in pagerduty.requests[0].json()["payload"]["summary"]
