"""The performance report: its figures from known traffic, the alerts and their time to
resolve from the history, the command (Markdown or email) and the scheduled sending."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from monitoring import runtime, service
from monitoring.alerts.service import to_datetime
from monitoring.baselines import RecordedBaseline, measure_window, record_baseline
from monitoring.models import AlertEvent
from monitoring.report import AlertEntry, build_report, render_report, span
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, write_traffic
from tests.conftest import Clock, Monitored

SQL = 'SELECT "shop_product"."id" FROM "shop_product" WHERE "shop_product"."id" = %s'
# /search/ spends the most time (100 x 0.3 s), /slow/ is the slowest, /home/ the busiest.
NOW = (
    Traffic()
    .requests("/search/", 100, seconds=0.3, queries=12)
    .requests("/home/", 380, seconds=0.02, queries=2)
    .requests("/home/", 20, status=500, seconds=0.02, queries=2)
    .requests("/slow/", 10, seconds=2.0, queries=1)
    .queries(600, 0.004)
    .cache(hits=300, misses=100, route="/home/")
)
NOW.bucket.statements["f1"] = SQL
NOW.bucket.counters["n_plus_one", ("/search/", "f1")] = 100
NOW.bucket.maxima["n_plus_one_max", ("/search/", "f1")] = 12
# When /search/ took 0.1 s.
BEFORE = (
    Traffic()
    .requests("/search/", 200, seconds=0.1, queries=12)
    .requests("/home/", 400, seconds=0.02, queries=2)
)
BASELINE = RecordedBaseline("release-41", 86400, 1_700_000_000.0, *measure_window(BEFORE.window()))
# /search/ fired and resolved after 10 min, /slow/ after 5 min; a regression still fires.
HISTORY = [
    AlertEntry("high_response_time", "/search/", "pending", 0),
    AlertEntry("high_response_time", "/search/", "firing", 300),
    AlertEntry("high_response_time", "/search/", "resolved", 900),
    AlertEntry("high_response_time", "/slow/", "firing", 1000),
    AlertEntry("high_response_time", "/slow/", "resolved", 1300),
    AlertEntry("performance_regression", "/search/", "firing", 2000),
]


def section(report: str, title: str) -> list[str]:
    """The lines of one ``## title`` section, without the title and blank lines."""
    body = report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in body.splitlines() if line]


@pytest.fixture(scope="module")
def report() -> str:
    return build_report(NOW.window(), HISTORY, BASELINE, 7 * 86400, 86400, "shop.example.com")


def test_the_header_says_what_the_store_keeps(report: str) -> None:
    assert report.startswith("# Performance report: shop.example.com\n\nPeriod: the last 7d, to ")
    assert "Metrics are kept for 24h (RETENTION_HOURS), so requests, queries and cache" in report
    assert "alerts cover the whole period." in report
    within = build_report(NOW.window(), [], None, 3600, 3600)
    assert "Metrics are kept" not in within and "Period: the last 1h, to " in within


def test_overview(report: str) -> None:
    assert section(report, "Overview")[2:] == [
        "| requests | 510 (1.7/s) |",
        "| errors (5xx) | 3.92% |",
        "| latency p50 / p95 / p99 | 20 ms / 298 ms / 1.99 s |",
        "| queries per request | 3.94 |",
        "| cache hit rate | 75% |",
    ]


def test_top_routes_by_time_spent_and_the_slowest(report: str) -> None:
    assert section(report, "Where the time goes")[2:] == [
        "| /search/ | 100 | 30 s | 51.7% | 300 ms | 298 ms |",
        "| /slow/ | 10 | 20 s | 34.5% | 2 s | 1.99 s |",
        "| /home/ | 400 | 8 s | 13.8% | 20 ms | 20 ms |",
    ]
    slowest = section(report, "Slowest routes (p95)")[2:]
    assert [row.split(" | ")[0] for row in slowest] == ["| /slow/", "| /search/", "| /home/"]


def test_the_regression_against_the_baseline(report: str) -> None:
    lines = section(report, 'Regressions against the baseline "release-41"')
    assert lines[0].startswith("Recorded 2023-11-14 22:13:20 UTC over 24h. A route regressed")
    assert lines[3:] == [
        "| /search/ | 99.2 ms -> 298 ms (+200%) | 12 -> 12 (+0%) | 0% -> 0% |",
        "Of 3 routes: 1 regressed, 1 within 1.25x, 1 not judged (too few requests).",
    ]
    without = build_report(NOW.window(), [], None, 3600)
    assert section(without, "Regressions") == [
        "No baseline to compare with: `manage.py record_baseline`."
    ]


def test_expensive_queries_n_plus_one_and_cache(report: str) -> None:
    assert section(report, "Most expensive queries")[2:] == [
        f"| 2.4 s | 600 | 4 ms | 3.96 ms | `{SQL}` |"
    ]
    assert section(report, "N+1 suspects")[2:] == [f"| /search/ | 100 | 12 | `{SQL}` |"]
    assert section(report, "Cache") == [
        "Overall hit rate 75% (300 hits, 100 misses).",
        "| cache | prefix | hits | misses | hit rate |",
        "|---|---|---|---|---|",
        "| default | p | 300 | 100 | 75% |",
    ]


def test_alerts_fired_and_time_to_resolve(report: str) -> None:
    assert section(report, "Alerts") == [
        "| rule | fired | resolved | median time to resolve | longest | still firing |",
        "|---|---|---|---|---|---|",
        "| high_response_time | 2 | 2 | 7m 30s | 10m | 0 |",
        "| performance_regression | 1 | 0 | - | - | 1 |",
    ]
    assert section(build_report(NOW.window(), [], None, 3600), "Alerts") == [
        "Nothing in this period."
    ]


def test_markdown_cells_are_escaped() -> None:
    traffic = Traffic().requests("/a|b/", 3)
    report = build_report(traffic.window(), [], None, 3600)
    assert "| /a\\|b/ | 3 |" in report


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.85, "850 ms"), (42.1, "42.1 s"), (725, "12m 5s"), (86400, "24h"), (7 * 86400, "7d"),
     (90000, "25h"), (3 * 86400 + 7200, "3d 2h")],
)  # fmt: skip
def test_spans(seconds: float, text: str) -> None:
    assert span(seconds) == text


# From the store and the database.

EMAIL = {"STORE_URL": "memory://", "ALERT_EMAIL_RECIPIENTS": ["ops@example.com", "cto@x.com"]}


def seed_history(now: float) -> None:
    """Two firings of high_error_rate resolved after 2 and 6 minutes, and one from before
    the week that the report leaves out."""
    common = {"threshold": 0.05, "operator": ">", "metric": "error_rate", "window_seconds": 300}
    for fired, resolved in [(now - 86400, now - 86400 + 120), (now - 3600, now - 3600 + 360)]:
        for state, at in (("firing", fired), ("resolved", resolved)):
            AlertEvent.objects.create(
                rule="high_error_rate", severity="critical", from_state="ok", to_state=state,
                at=to_datetime(at), **common,
            )  # fmt: skip
    AlertEvent.objects.create(
        rule="old", severity="warning", from_state="pending", to_state="firing",
        at=to_datetime(now - 8 * 86400), **common,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_command_reports_real_requests_and_the_history(monitored: Monitored) -> None:
    client = Client()
    for _ in range(5):
        client.get("/t/queries/8/")  # one statement 8 times: an N+1 suspect
    for _ in range(10):
        client.get("/t/plain/")
    monitored.flush()
    seed_history(time.time())
    out = StringIO()
    call_command("monitoring_report", "--period", "7d", stdout=out)
    report = out.getvalue()
    assert "Metrics are kept for 24h (RETENTION_HOURS)" in report
    assert section(report, "Overview")[2].startswith("| requests | 15 (0.00")
    rows = section(report, "Where the time goes")[2:]
    assert [row.split(" | ")[:2] for row in rows] == [
        ["| /t/queries/<int:n>/", "5"],
        ["| /t/plain/", "10"],
    ]
    (suspect,) = section(report, "N+1 suspects")[2:]
    assert suspect.startswith("| /t/queries/<int:n>/ | 5 | 8 | `SELECT")
    assert '"auth_user"' in suspect
    assert section(report, "Most expensive queries")[2].split(" | ")[1] == "40"
    assert section(report, "Alerts")[2:] == ["| high_error_rate | 2 | 2 | 4m | 6m | 0 |"]


@pytest.mark.django_db
def test_the_report_compares_with_a_named_baseline(monitored: Monitored) -> None:
    store = runtime.get_store()
    write_traffic(store, BEFORE, time.time() - 3600)
    record_baseline("release-41", store.read_window(86400))
    text = render_report(store, 86400, time.time(), "release-41")
    assert '## Regressions against the baseline "release-41"' in text
    with pytest.raises(CommandError, match='no baseline named "release-9"'):
        call_command("monitoring_report", "--baseline", "release-9", stdout=StringIO())


@pytest.mark.django_db
@override_settings(MONITORING=EMAIL)
def test_the_report_by_email(monitored: Monitored) -> None:
    write_traffic(runtime.get_store(), NOW, time.time() - 60)
    out = StringIO()
    call_command("monitoring_report", "--period", "24h", "--email", stdout=out)
    assert out.getvalue() == "report emailed to 2 recipients\n"
    (email,) = mail.outbox
    assert email.to == ["ops@example.com", "cto@x.com"]
    assert email.subject.startswith("Performance report: ") and email.subject.endswith("24h")
    assert email.body.startswith("# Performance report: ")
    ((name, content, mimetype),) = email.attachments
    assert name.startswith("performance-report-") and name.endswith(".md")
    assert (content, mimetype) == (email.body, "text/markdown")
    assert "| /search/ | 100 | 30 s |" in email.body


@pytest.mark.django_db
def test_no_recipients_is_one_readable_error(monitored: Monitored) -> None:
    with pytest.raises(CommandError) as failure:
        call_command("monitoring_report", "--email", stdout=StringIO())
    assert str(failure.value) == "no recipients: set ALERT_EMAIL_RECIPIENTS to email the report"
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_bad_period_is_refused(monitored: Monitored) -> None:
    with pytest.raises(CommandError, match=r"--period a week: use e\.g\. 24h or 7d"):
        call_command("monitoring_report", "--period", "a week", stdout=StringIO())


# Scheduled by the service.


@pytest.mark.django_db
@override_settings(MONITORING={**EMAIL, "REPORT_SCHEDULE": "daily"})
def test_the_scheduled_report_goes_out_once_a_day(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    write_traffic(store, NOW, clock.now - 60)
    assert service.report_step(store, clock.now) == "emailed to 2 recipients"
    assert store.last_beat(service.REPORT_BEAT) == clock.now
    clock.advance(3600)
    assert service.report_step(store, clock.now) == "next in 23h"
    clock.advance(23 * 3600 - 60)
    assert service.report_step(store, clock.now) == "next in 1m"
    assert len(mail.outbox) == 1 and mail.outbox[0].subject.endswith("the last 24h")
    clock.advance(60)
    assert service.report_step(store, clock.now) == "emailed to 2 recipients"
    assert len(mail.outbox) == 2


@pytest.mark.django_db
@override_settings(
    MONITORING={**EMAIL, "REPORT_SCHEDULE": "weekly", "REPORT_PERIOD": "3d", "HOST": "web-1"}
)
def test_the_leader_runs_the_report_step_after_cleanup(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    report = service.run_cycle(store, now=clock.now)
    assert list(report.done)[-2:] == ["cleanup", "report"]
    assert report.done["report"] == "emailed to 2 recipients"
    assert mail.outbox[0].subject.endswith("the last 3d")
    report = service.run_cycle(store, now=clock.now + 60)
    assert report.done["report"] == "next in 6d 23h"


@pytest.mark.django_db
@override_settings(MONITORING={"STORE_URL": "memory://", "REPORT_SCHEDULE": "daily"})
def test_without_recipients_the_scheduled_report_waits(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    assert service.report_step(store, clock.now) == (
        "not sent: no recipients: set ALERT_EMAIL_RECIPIENTS to email the report"
    )
    assert store.last_beat(service.REPORT_BEAT) is None


@pytest.mark.django_db
def test_no_schedule_no_report_step(clock: Clock) -> None:
    report = service.run_cycle(MemoryStore(clock=clock), now=clock.now)
    assert "report" not in report.done
