"""alerts/ and alerts/history/: active alerts, silences, the paginated history, every 400,
503 when the alert tables cannot be read, and the dashboard's alerts list."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from monitoring.alerts import queries
from monitoring.models import AlertEvent, AlertState, Notification, Silence
from monitoring.recording import safety
from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 4, 40, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch, monitored: Monitored) -> None:
    """Django's clock stands at NOW (the queries' default ``now``)."""
    monkeypatch.setattr(queries.django_timezone, "now", lambda: NOW)


def alert(rule: str, status: str, severity: str, minutes_ago: int, **fields: Any) -> AlertState:
    since = NOW - minutes_ago * MINUTE
    defaults: dict[str, Any] = {
        "value": 0.12,
        "threshold": 0.05,
        "active_since": since,
        "fired_at": since + MINUTE if status == "firing" else None,
        "evaluated_at": NOW,
        "dedup_key": f"monitoring/{rule}",
    }
    return AlertState.objects.create(
        rule=rule, status=status, severity=severity, **{**defaults, **fields}
    )


def silence(rule: str = "", starts: int = -10, ends: int = 60, **fields: Any) -> Silence:
    """A silence from ``starts`` to ``ends`` minutes after NOW."""
    return Silence.objects.create(
        rule=rule,
        starts_at=NOW + starts * MINUTE,
        ends_at=NOW + ends * MINUTE,
        comment=fields.pop("comment", "deploying"),
        **fields,
    )


def event(rule: str, to_state: str, minutes_ago: int, **fields: Any) -> AlertEvent:
    defaults: dict[str, Any] = {
        "severity": "critical",
        "from_state": {"pending": "ok", "firing": "pending", "resolved": "firing"}.get(
            to_state, "pending"
        ),
        "value": 0.12,
        "threshold": 0.05,
        "operator": ">",
        "metric": "error_rate",
        "window_seconds": 300,
        "at": NOW - minutes_ago * MINUTE,
    }
    return AlertEvent.objects.create(rule=rule, to_state=to_state, **{**defaults, **fields})


def get(url: str) -> Any:
    response = Client().get(url)
    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    return response.json()


def test_active_alerts_silences_and_firing_counts() -> None:
    alert(
        "high_error_rate",
        "firing",
        "critical",
        30,
        summary="5xx rate is 12% (threshold > 5%) over 5m",
        last_notified_at=NOW - 29 * MINUTE,
        muted="silence 1",
    )
    alert(
        "high_response_time", "pending", "warning", 2, route="/checkout/", value=1.4, threshold=1
    )
    silence("high_error_rate", created_by="alice")
    assert get("/monitoring/alerts/") == {
        "active": [
            {
                "rule": "high_error_rate",
                "route": None,
                "status": "firing",
                "severity": "critical",
                "value": 0.12,
                "threshold": 0.05,
                "summary": "5xx rate is 12% (threshold > 5%) over 5m",
                "active_since": "2026-11-27T04:10:00Z",
                "fired_at": "2026-11-27T04:11:00Z",
                "last_notified_at": "2026-11-27T04:11:00Z",
                "evaluated_at": "2026-11-27T04:40:00Z",
                "muted": "silence 1",
                "silenced_by": [1],
                "runbook_url": None,
            },
            {
                "rule": "high_response_time",
                "route": "/checkout/",
                "status": "pending",
                "severity": "warning",
                "value": 1.4,
                "threshold": 1.0,
                "summary": "",
                "active_since": "2026-11-27T04:38:00Z",
                "fired_at": None,
                "last_notified_at": None,
                "evaluated_at": "2026-11-27T04:40:00Z",
                "muted": None,
                "silenced_by": [],
                "runbook_url": None,
            },
        ],
        "silences": [
            {
                "id": 1,
                "rule": "high_error_rate",
                "route": None,
                "severity": None,
                "starts_at": "2026-11-27T04:30:00Z",
                "ends_at": "2026-11-27T05:40:00Z",
                "comment": "deploying",
                "created_by": "alice",
            }
        ],
        "firing": {"critical": 1, "warning": 0, "info": 0},
    }


def test_nothing_active() -> None:
    assert get("/monitoring/alerts/") == {
        "active": [],
        "silences": [],
        "firing": {"critical": 0, "warning": 0, "info": 0},
    }


def test_firing_first_then_severity_then_the_oldest() -> None:
    alert("a_warning_firing", "firing", "warning", 50)
    alert("a_critical_pending", "pending", "critical", 60)
    alert("b_critical_firing", "firing", "critical", 5)
    alert("a_critical_firing", "firing", "critical", 10)
    alert("info_firing", "firing", "info", 90)
    body = get("/monitoring/alerts/")
    assert [a["rule"] for a in body["active"]] == [
        "a_critical_firing",
        "b_critical_firing",
        "a_warning_firing",
        "info_firing",
        "a_critical_pending",
    ]
    assert body["firing"] == {"critical": 2, "warning": 1, "info": 1}


def test_only_silences_in_force_that_match_are_listed() -> None:
    alert("high_error_rate", "firing", "critical", 5, route="/cart/")
    everything = silence("", comment="maintenance")
    this_route = silence("high_error_rate", route="/cart/")
    silence("high_error_rate", route="/other/")  # another route
    silence("high_error_rate", severity="warning")  # another severity
    silence("high_error_rate", starts=-60, ends=0)  # ended exactly now
    silence("high_error_rate", starts=5, ends=60)  # not yet begun
    body = get("/monitoring/alerts/")
    assert body["active"][0]["silenced_by"] == [everything.pk, this_route.pk]
    assert len(body["silences"]) == 4


def test_each_alert_links_to_its_rules_runbook(settings: Any) -> None:
    settings.MONITORING = {
        **settings.MONITORING,
        "ALERT_RULES": {
            "high_error_rate": {"runbook_url": "https://wiki.example.com/runbooks/5xx"},
            "checkout_errors": {
                "metric": "error_rate",
                "operator": ">",
                "threshold": 0.01,
                "window": "5m",
                "severity": "critical",
                "runbook_url": "https://wiki.example.com/checkout",
            },
        },
    }
    alert("high_error_rate", "firing", "critical", 30)
    alert("checkout_errors", "firing", "critical", 20)
    alert("high_response_time", "pending", "warning", 2)
    alert("a_rule_since_removed", "pending", "warning", 1)
    runbooks = {a["rule"]: a["runbook_url"] for a in get("/monitoring/alerts/")["active"]}
    assert runbooks == {
        "high_error_rate": "https://wiki.example.com/runbooks/5xx",
        "checkout_errors": "https://wiki.example.com/checkout",
        "high_response_time": None,  # a default rule without one
        "a_rule_since_removed": None,
    }


def test_values_are_rounded_and_one_that_is_not_finite_is_null() -> None:
    alert("high_error_rate", "firing", "critical", 5, value=float("nan"))
    alert("high_query_count", "firing", "warning", 5, value=2 / 3, threshold=50)
    active = get("/monitoring/alerts/")["active"]
    assert [(a["value"], a["threshold"]) for a in active] == [(None, 0.05), (0.666667, 50)]


def test_history_shows_each_transition_with_its_notifications() -> None:
    fired = event("high_error_rate", "firing", 10, summary="5xx rate is 12%")
    event("high_error_rate", "pending", 12, muted="silence 4")
    for channel, status, error in (("slack", "sent", ""), ("pagerduty", "failed", "HTTP 400")):
        Notification.objects.create(
            event=fired,
            channel=channel,
            kind="firing",
            dedup_key="monitoring/high_error_rate",
            payload={"rule": "high_error_rate"},
            status=status,
            attempts=3 if error else 1,
            created_at=NOW - 10 * MINUTE,
            next_attempt_at=NOW,
            sent_at=None if error else NOW - 9 * MINUTE,
            last_error=error,
        )
    body = get("/monitoring/alerts/history/")
    assert {key: body[key] for key in body if key != "items"} == {
        "page": 1,
        "per_page": 50,
        "total": 2,
        "pages": 1,
        "next": None,
        "previous": None,
    }
    assert body["items"][0] == {
        "id": fired.pk,
        "rule": "high_error_rate",
        "route": None,
        "severity": "critical",
        "from_state": "pending",
        "to_state": "firing",
        "value": 0.12,
        "threshold": 0.05,
        "operator": ">",
        "metric": "error_rate",
        "window_seconds": 300,
        "at": "2026-11-27T04:30:00Z",
        "summary": "5xx rate is 12%",
        "muted": None,
        "notifications": [
            {
                "channel": "slack",
                "kind": "firing",
                "status": "sent",
                "attempts": 1,
                "sent_at": "2026-11-27T04:31:00Z",
                "last_error": None,
            },
            {
                "channel": "pagerduty",
                "kind": "firing",
                "status": "failed",
                "attempts": 3,
                "sent_at": None,
                "last_error": "HTTP 400",
            },
        ],
    }
    assert (body["items"][1]["to_state"], body["items"][1]["muted"]) == ("pending", "silence 4")
    assert body["items"][1]["notifications"] == []
    assert get("/monitoring/alerts/?history=1") == body


def test_history_filters() -> None:
    event("high_error_rate", "pending", 50)
    event("high_error_rate", "firing", 40)
    event("high_error_rate", "resolved", 20)
    event("slow_database_queries", "firing", 30, severity="warning", route="/search/")
    event("high_query_count", "ok", 10, severity="warning")

    def ids(query: str) -> list[tuple[str, str]]:
        items = get(f"/monitoring/alerts/history/?{query}")["items"]
        return [(item["rule"], item["to_state"]) for item in items]

    assert ids("rule=high_error_rate") == [
        ("high_error_rate", "resolved"),
        ("high_error_rate", "firing"),
        ("high_error_rate", "pending"),
    ]
    assert ids("state=firing") == [
        ("slow_database_queries", "firing"),
        ("high_error_rate", "firing"),
    ]
    assert ids("state=ok") == [("high_query_count", "ok")]
    assert ids("severity=warning") == [
        ("high_query_count", "ok"),
        ("slow_database_queries", "firing"),
    ]
    assert ids("rule=high_error_rate&state=firing&severity=critical") == [
        ("high_error_rate", "firing")
    ]
    assert ids("rule=no_such_rule") == []
    # since: at or after, with or without an offset (UTC without one).
    assert len(ids("since=2026-11-27T04:10:00Z")) == 3
    assert len(ids("since=2026-11-27T04:10")) == 3
    assert len(ids("since=2026-11-27T05:10:00%2B01:00")) == 3  # 04:10 UTC
    assert len(ids("since=2026-11-27T05:10:00+01:00")) == 3  # "+" arrives as a space
    assert len(ids("since=2026-11-27T04:09:59.5Z")) == 3
    assert len(ids("since=2026-11-27")) == 5
    assert ids("since=2026-11-28") == []


def test_pagination_edges() -> None:
    for minutes_ago in range(5):
        event("high_error_rate", "firing", minutes_ago)

    def page(query: str) -> dict[str, Any]:
        body: dict[str, Any] = get(f"/monitoring/alerts/history/?{query}")
        body["items"] = [item["at"][11:16] for item in body["items"]]
        return body

    assert page("per_page=2") == {
        "items": ["04:40", "04:39"],
        "page": 1,
        "per_page": 2,
        "total": 5,
        "pages": 3,
        "next": 2,
        "previous": None,
    }
    assert page("per_page=2&page=2")["items"] == ["04:38", "04:37"]
    last = page("per_page=2&page=3")
    assert (last["items"], last["next"], last["previous"]) == (["04:36"], None, 2)
    past = page("per_page=2&page=9")
    assert (past["items"], past["total"], past["next"], past["previous"]) == ([], 5, None, 3)
    exact = page("per_page=5")
    assert (exact["pages"], exact["next"]) == (1, None)
    assert page("per_page=200")["pages"] == 1
    assert page("per_page=1&page=5")["items"] == ["04:36"]


def test_an_empty_history() -> None:
    assert get("/monitoring/alerts/history/?page=2") == {
        "items": [],
        "page": 2,
        "per_page": 50,
        "total": 0,
        "pages": 0,
        "next": None,
        "previous": None,
    }


BAD = [
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=abc", "page"),
    ("page=1.5", "page"),
    ("page=1000001", "page"),
    ("per_page=0", "per_page"),
    ("per_page=201", "per_page"),
    ("per_page=", "per_page"),
    ("state=open", "state"),
    ("state=", "state"),
    ("severity=fatal", "severity"),
    ("severity=CRITICAL", "severity"),
    ("rule=", "rule"),
    ("rule=" + "x" * 101, "rule"),
    ("since=yesterday", "since"),
    ("since=2026-13-01", "since"),
    ("since=2026-11-27T25:00", "since"),
    ("since=2026-11-27T04:40:00%2B24:00", "since"),
    ("since=0001-01-01T00:00%2B01:00", "since"),
    ("since=1795749640", "since"),
    ("sinse=2026-11-27", "sinse"),
    ("window=5m", "window"),
]


@pytest.mark.parametrize(
    "base", ["/monitoring/alerts/history/?", "/monitoring/alerts/?history=1&"]
)
@pytest.mark.parametrize(("query", "parameter"), BAD)
def test_bad_history_parameters_get_400_naming_them(base: str, query: str, parameter: str) -> None:
    response = Client().get(base + query)
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "parameter"}
    assert body["parameter"] == parameter and parameter in body["error"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("history=yes", "history"),
        ("history=", "history"),
        ("page=2", "page"),
        ("history=0&state=firing", "state"),
        ("since=2026-11-27", "since"),
        ("limit=5", "limit"),
    ],
)
def test_bad_parameters_of_the_active_alerts_get_400(query: str, parameter: str) -> None:
    response = Client().get(f"/monitoring/alerts/?{query}")
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter


@pytest.fixture
def alert_tables_gone() -> Any:
    """The alert tables cannot be read (renamed inside the test's transaction)."""
    with connection.cursor() as cursor:
        for table in ("monitoring_alertstate", "monitoring_alertevent"):
            cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_gone")
    yield
    with connection.cursor() as cursor:
        for table in ("monitoring_alertstate", "monitoring_alertevent"):
            cursor.execute(f"ALTER TABLE {table}_gone RENAME TO {table}")


@pytest.mark.parametrize(
    "url",
    [
        "/monitoring/alerts/",
        "/monitoring/alerts/?history=1",
        "/monitoring/alerts/history/",
        "/monitoring/dashboard/",
    ],
)
def test_unreadable_alert_tables_are_503(
    alert_tables_gone: None, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setattr(safety, "_counts", {})
    monkeypatch.setattr(safety, "_last_logged", {})
    response = Client().get(url)
    assert (response.status_code, response.json()) == (
        503,
        {"error": "the alert tables cannot be read"},
    )
    assert safety.internal_error_counts() == {"alerts": 1}


def test_the_dashboard_lists_the_active_alerts() -> None:
    alert("high_response_time", "pending", "warning", 2)
    alert("high_error_rate", "firing", "critical", 30)
    body = get("/monitoring/dashboard/")
    assert body["alerts"] == queries.active_alerts()
    assert [a["rule"] for a in body["alerts"]] == ["high_error_rate", "high_response_time"]
