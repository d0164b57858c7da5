"""The admin of alerting: read-only alerts, history and notifications; silences added by
people, who are recorded as their creators."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from monitoring.models import AlertEvent, AlertState, Notification, Silence

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("alice", "alice@example.com", "pw"))
    return client


@pytest.fixture
def rows() -> Notification:
    now = timezone.now()
    AlertState.objects.create(
        rule="high_error_rate",
        status="firing",
        severity="critical",
        value=0.12,
        threshold=0.05,
        active_since=now,
        fired_at=now,
        evaluated_at=now,
        dedup_key="monitoring/high_error_rate",
    )
    common = {"threshold": 1.0, "operator": ">", "window_seconds": 300, "at": now}
    fired = AlertEvent.objects.create(
        rule="high_error_rate",
        severity="critical",
        from_state="pending",
        to_state="firing",
        metric="error_rate",
        value=0.12,
        summary="5xx rate is 12%",
        **common,
    )
    AlertEvent.objects.create(
        rule="slow_database_queries",
        severity="warning",
        from_state="firing",
        to_state="resolved",
        metric="db_p95",
        value=0.01,
        summary="p95 query time is 10 ms",
        **common,
    )
    return Notification.objects.create(
        event=fired,
        channel="pagerduty",
        kind="firing",
        dedup_key="monitoring/high_error_rate",
        payload={"rule": "high_error_rate", "labels": {"severity": "critical"}},
        status="failed",
        attempts=7,
        created_at=now,
        next_attempt_at=now,
        last_error="HTTP 400: invalid routing key",
    )


CHANGELISTS = [
    "/admin/monitoring/alertstate/",
    "/admin/monitoring/alertstate/?status__exact=firing&severity__exact=critical",
    "/admin/monitoring/alertstate/?rule=high_error_rate",
    "/admin/monitoring/alertevent/",
    "/admin/monitoring/alertevent/?rule=high_error_rate&to_state__exact=firing",
    "/admin/monitoring/alertevent/?severity__exact=warning&q=slow",
    "/admin/monitoring/notification/",
    "/admin/monitoring/notification/?channel=pagerduty&status__exact=failed&kind=firing",
    "/admin/monitoring/silence/",
    "/admin/monitoring/silence/?severity__exact=warning",
]


@pytest.mark.parametrize("url", CHANGELISTS)
def test_every_changelist_loads_with_its_filters(
    admin_client: Client, rows: Notification, url: str
) -> None:
    response = admin_client.get(url)
    assert response.status_code == 200, url
    # A bad filter makes the admin redirect with ?e=1 rather than fail: not here.
    assert "?e=1" not in response.get("Location", "")


def test_the_history_by_date(admin_client: Client, rows: Notification) -> None:
    today = timezone.localdate()
    page = admin_client.get(
        f"/admin/monitoring/alertevent/?at__year={today.year}&at__month={today.month}"
        f"&at__day={today.day}"
    )
    assert page.context["cl"].result_count == 2
    page = admin_client.get(f"/admin/monitoring/alertevent/?at__year={today.year - 1}")
    assert page.context["cl"].result_count == 0


def test_the_history_filters_by_rule_and_state(admin_client: Client, rows: Notification) -> None:
    page = admin_client.get("/admin/monitoring/alertevent/?rule=high_error_rate")
    assert list(page.context["cl"].result_list.values_list("rule", flat=True)) == [
        "high_error_rate"
    ]
    page = admin_client.get("/admin/monitoring/alertevent/?to_state__exact=resolved")
    assert [e.rule for e in page.context["cl"].result_list] == ["slow_database_queries"]
    page = admin_client.get("/admin/monitoring/alertevent/")
    assert page.context["cl"].result_count == 2
    assert b"alert history" in page.content


def test_a_history_entry_shows_its_failed_notification(
    admin_client: Client, rows: Notification
) -> None:
    assert rows.event is not None
    page = admin_client.get(f"/admin/monitoring/alertevent/{rows.event.pk}/change/")
    assert page.status_code == 200
    assert b"HTTP 400: invalid routing key" in page.content
    assert b"pagerduty" in page.content


def test_a_notification_shows_its_payload_pretty_printed(
    admin_client: Client, rows: Notification
) -> None:
    page = admin_client.get(f"/admin/monitoring/notification/{rows.pk}/change/")
    assert page.status_code == 200
    assert b"<pre>{\n  &quot;labels&quot;: {\n    &quot;severity&quot;" in page.content


@pytest.mark.parametrize("model", ["alertstate", "alertevent", "notification"])
def test_alerts_history_and_notifications_are_read_only(
    admin_client: Client, rows: Notification, model: str
) -> None:
    assert admin_client.get(f"/admin/monitoring/{model}/add/").status_code == 403
    instance = {"alertstate": AlertState, "alertevent": AlertEvent, "notification": Notification}[
        model
    ].objects.first()
    assert instance is not None
    assert admin_client.get(f"/admin/monitoring/{model}/{instance.pk}/delete/").status_code == 403
    before = admin_client.get(f"/admin/monitoring/{model}/{instance.pk}/change/")
    assert before.status_code == 200 and b'name="_save"' not in before.content
    refused = admin_client.post(f"/admin/monitoring/{model}/{instance.pk}/change/", {})
    assert refused.status_code == 403


def test_a_silence_added_in_the_admin_records_who_added_it(admin_client: Client) -> None:
    form = admin_client.get("/admin/monitoring/silence/add/")
    assert form.status_code == 200
    initial = form.context["adminform"].form.initial
    assert initial["ends_at"] - initial["starts_at"] == timedelta(hours=2)
    now = timezone.localtime()  # the admin's form speaks the site's time zone
    response = admin_client.post(
        "/admin/monitoring/silence/add/",
        {
            "rule": "high_error_rate",
            "route": "",
            "severity": "",
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": now.strftime("%H:%M:%S"),
            "ends_at_0": (now + timedelta(hours=2)).strftime("%Y-%m-%d"),
            "ends_at_1": (now + timedelta(hours=2)).strftime("%H:%M:%S"),
            "comment": "deploying",
        },
    )
    assert response.status_code == 302, response.content
    silence = Silence.objects.get()
    assert (silence.rule, silence.comment, silence.created_by) == (
        "high_error_rate",
        "deploying",
        "alice",
    )
    listing = admin_client.get("/admin/monitoring/silence/")
    assert b"icon-yes" in listing.content  # the "active" column


def test_a_silence_must_end_after_it_starts(admin_client: Client) -> None:
    now = timezone.now()
    response = admin_client.post(
        "/admin/monitoring/silence/add/",
        {
            "rule": "",
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": "10:00:00",
            "ends_at_0": now.strftime("%Y-%m-%d"),
            "ends_at_1": "09:00:00",
            "comment": "backwards",
        },
    )
    assert response.status_code == 200
    assert b"A silence must end after it starts." in response.content
    assert not Silence.objects.exists()


def test_silences_can_be_ended_from_the_list(admin_client: Client) -> None:
    now = timezone.now()
    running = Silence.objects.create(
        starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1), comment="x"
    )
    response = admin_client.post(
        "/admin/monitoring/silence/",
        {"action": "end_now", "_selected_action": [running.pk]},
    )
    assert response.status_code == 302
    running.refresh_from_db()
    assert running.ends_at <= timezone.now()
