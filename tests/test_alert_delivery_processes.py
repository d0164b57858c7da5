"""The outbox across threads and processes: channels delivered independently and in
parallel (on PostgreSQL), Slack spaced to one message a second, and a deliverer killed
between sending and marking (a real process, SQLite file)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from monitoring.alerts.delivery import CLAIM_GRACE, deliver_notifications
from monitoring.alerts.service import to_datetime
from monitoring.models import Notification
from tests.messages import sample_message
from tests.receivers import Receiver

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_700_000_000.0


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with (
        Receiver("/v2/enqueue", (202, {}, b'{"status":"success"}')) as pagerduty,
        Receiver("/services/T/B/X", (200, {}, b"ok")) as slack,
    ):
        monitoring = {
            "STORE_URL": "memory://",
            "ALERT_PAGERDUTY_ENABLED": True,
            "PAGERDUTY_ROUTING_KEY": "KEY",
            "PAGERDUTY_EVENTS_URL": pagerduty.url,
            "ALERT_SLACK_ENABLED": True,
            "SLACK_WEBHOOK_URL": slack.url,
            "ALERT_EMAIL_ENABLED": True,
            "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"],
            "ALERT_HTTP_TIMEOUT": 3,
        }
        with override_settings(MONITORING=monitoring):
            yield pagerduty, slack


def queue(channel: str, count: int, using: str) -> None:
    for index in range(count):
        message = sample_message(dedup_key=f"alert-{index}", notification_id=None)
        Notification.objects.using(using).create(
            channel=channel,
            kind="firing",
            dedup_key=message.dedup_key,
            payload=message.to_dict(),
            created_at=to_datetime(NOW),
            next_attempt_at=to_datetime(NOW),
        )


@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_a_slow_slack_delays_neither_pagerduty_nor_email(
    receivers: tuple[Receiver, Receiver],
) -> None:
    from django.core import mail

    pagerduty, slack = receivers
    slack.answer(2.0, 2.0)  # Slack answers after two seconds each time
    queue("slack", 2, "pg")
    queue("pagerduty", 2, "pg")
    queue("email", 1, "pg")
    report = deliver_notifications(now=NOW, using="pg")
    assert report.sent == {"slack": 2, "pagerduty": 2, "email": 1}
    first_slack = slack.requests[0].at
    # Both pages went out while the first Slack request was still waiting for its answer.
    assert all(request.at < first_slack + 2.0 for request in pagerduty.requests)
    assert len(mail.outbox) == 1


@pytest.mark.django_db(databases=["default", "pg"], transaction=True)
def test_slack_gets_at_most_one_message_a_second(receivers: tuple[Receiver, Receiver]) -> None:
    _, slack = receivers
    queue("slack", 3, "pg")
    assert deliver_notifications(now=NOW, using="pg").sent == {"slack": 3}
    arrivals = [request.at for request in slack.requests]
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(arrivals))


def driver(
    tmp_path: Path, pagerduty: Receiver, *args: str, crash: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example'}",
        "DJANGO_SETTINGS_MODULE": "tests.fleet_settings",
        "FLEET_SQLITE": str(tmp_path / "site.sqlite3"),
        "MONITORING_STORE_URL": "memory://",
        "ALERT_PAGERDUTY_ENABLED": "true",
        "PAGERDUTY_ROUTING_KEY": "KEY",
        "PAGERDUTY_EVENTS_URL": pagerduty.url,
    }
    if crash:
        env["FLEET_ALERT_CHANNELS"] = json.dumps(
            {"pagerduty": {"CLASS": "tests.crashing.PagerDutyThenCrash"}}
        )
    return subprocess.run(
        [sys.executable, "-m", "tests.alert_driver", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_crash_between_sending_and_marking_loses_nothing_and_pages_once(
    tmp_path: Path,
) -> None:
    with Receiver("/v2/enqueue", (202, {}, b'{"status":"success"}')) as pagerduty:
        assert driver(tmp_path, pagerduty, "migrate").returncode == 0
        assert driver(tmp_path, pagerduty, "enqueue").returncode == 0
        crashed = driver(tmp_path, pagerduty, "deliver", "0", crash=True)
        assert crashed.returncode == 70, crashed.stderr
        assert len(pagerduty.wait_for(1)) == 1
        # Restarted at once: the row is still claimed by the dead process; nothing is sent.
        again = driver(tmp_path, pagerduty, "deliver", "1")
        assert json.loads(again.stdout)["sent"] == {}
        # Once the claim lapses the row goes out again, with the same dedup_key.
        later = driver(tmp_path, pagerduty, "deliver", str(3 + CLAIM_GRACE + 10))
        assert json.loads(later.stdout)["sent"] == {"pagerduty": 1}, later.stderr
        rows = json.loads(driver(tmp_path, pagerduty, "rows").stdout)
        first, second = pagerduty.requests
    assert rows == [{"status": "sent", "attempts": 2, "last_error": ""}]
    assert first.body == second.body
    assert first.json()["dedup_key"] == second.json()["dedup_key"]
    assert first.json()["event_action"] == "trigger"
