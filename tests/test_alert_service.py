"""evaluate_alerts: the store's windows in, states, history and the outbox out, in one
transaction, surviving restarts (every call starts from the database alone)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from monitoring.alerts.messages import dedup_key
from monitoring.alerts.service import evaluate_alerts
from monitoring.models import AlertEvent, AlertState, Notification, Silence
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, write_traffic
from tests.conftest import Clock

pytestmark = pytest.mark.django_db

CHANNELS = {
    "STORE_URL": "memory://",
    "HOST": "web-1",
    "SITE_URL": "https://shop.example.com",
    "ALERT_PAGERDUTY_ENABLED": True,
    "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY",
    "ALERT_SLACK_ENABLED": True,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/X",
    "ALERT_EMAIL_ENABLED": True,
    "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"],
}
BURST = Traffic().requests("/a/", 60).requests("/a/", 40, status=500)


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    return MemoryStore(clock=clock)


@override_settings(MONITORING=CHANNELS)
def test_a_burst_of_errors_pends_fires_notifies_and_resolves(
    store: MemoryStore, clock: Clock
) -> None:
    write_traffic(store, BURST, clock.now - 5)
    first = evaluate_alerts(store)
    assert [(t.rule, t.to_state) for t in first.transitions] == [("high_error_rate", "pending")]
    assert (first.pending, first.firing, first.notifications) == (1, 0, 0)
    assert Notification.objects.count() == 0

    clock.advance(60)
    second = evaluate_alerts(store)
    assert [(t.rule, t.to_state) for t in second.transitions] == [("high_error_rate", "firing")]
    alert = AlertState.objects.get()
    assert (alert.rule, alert.route, alert.status, alert.severity) == (
        "high_error_rate",
        "",
        "firing",
        "critical",
    )
    assert alert.value == pytest.approx(0.4) and alert.last_notified_at is not None
    assert alert.summary == "high_error_rate: error_rate is 40% (threshold > 5%) over 5m"
    queued = list(Notification.objects.order_by("id"))
    assert [(n.channel, n.kind, n.status) for n in queued] == [
        ("pagerduty", "firing", "pending"),
        ("slack", "firing", "pending"),
        ("email", "firing", "pending"),
    ]
    payload = queued[0].payload
    assert payload["dedup_key"] == "monitoring/high_error_rate" == dedup_key("high_error_rate", "")
    assert payload["host"] == "web-1" and payload["value_text"] == "40%"
    assert payload["threshold_text"] == "5%" and payload["window_seconds"] == 300
    assert payload["labels"] == {"alertname": "high_error_rate", "severity": "critical"}
    assert payload["dashboard_url"] == "https://shop.example.com/monitoring/"
    assert queued[0].event is not None and queued[0].event.to_state == "firing"

    clock.advance(60)  # still firing: nothing new within the cooldown
    assert evaluate_alerts(store).notifications == 0

    clock.advance(400)  # the burst has left the 5-minute window
    third = evaluate_alerts(store)
    assert [(t.rule, t.to_state) for t in third.transitions] == [("high_error_rate", "resolved")]
    assert AlertState.objects.count() == 0
    resolved = Notification.objects.filter(kind="resolved").order_by("id")
    assert [n.channel for n in resolved] == ["pagerduty", "slack", "email"]
    assert resolved[0].payload["ended_at"] == clock.now
    assert resolved[0].payload["dedup_key"] == payload["dedup_key"]
    history = list(AlertEvent.objects.order_by("id").values_list("from_state", "to_state"))
    assert history == [("ok", "pending"), ("pending", "firing"), ("firing", "resolved")]
    event = AlertEvent.objects.get(to_state="firing")
    assert (event.value, event.threshold, event.window_seconds, event.metric) == (
        pytest.approx(0.4),
        0.05,
        300,
        "error_rate",
    )


@override_settings(MONITORING=CHANNELS)
def test_a_silence_mutes_notifications_but_not_history(store: MemoryStore, clock: Clock) -> None:
    from monitoring.alerts.service import to_datetime

    silence = Silence.objects.create(
        rule="high_error_rate",
        starts_at=to_datetime(clock.now - 1),
        ends_at=to_datetime(clock.now + 120),
        comment="deploy",
    )
    write_traffic(store, BURST, clock.now - 5)
    evaluate_alerts(store)
    clock.advance(60)
    evaluate_alerts(store)
    assert Notification.objects.count() == 0
    assert AlertEvent.objects.get(to_state="firing").muted == f"silence {silence.id}"
    assert AlertState.objects.get().muted == f"silence {silence.id}"
    clock.advance(61)  # the silence is over: the still-firing alert notifies now
    assert evaluate_alerts(store).notifications == 3
    assert AlertState.objects.get().muted == ""


@override_settings(MONITORING={**CHANNELS, "ALERT_SLACK_ENABLED": False})
def test_only_enabled_channels_get_rows(store: MemoryStore, clock: Clock) -> None:
    write_traffic(store, Traffic().requests("/a/", 5).connection_errors(1), clock.now - 5)
    outcome = evaluate_alerts(store)
    assert outcome.firing == 1
    assert sorted(Notification.objects.values_list("channel", flat=True)) == ["email", "pagerduty"]


@override_settings(MONITORING=CHANNELS)
def test_a_failed_recording_keeps_nothing(store: MemoryStore, clock: Clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    write_traffic(store, Traffic().requests("/a/", 5).connection_errors(1), clock.now - 5)

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(Notification, "save", broken)
    with pytest.raises(RuntimeError):
        evaluate_alerts(store)
    assert AlertState.objects.count() == AlertEvent.objects.count() == 0
    monkeypatch.undo()
    # The next evaluation sees the same change again, and this time records it all.
    assert evaluate_alerts(store).notifications == 3
    assert AlertEvent.objects.count() == 1
