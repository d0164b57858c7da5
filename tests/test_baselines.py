"""Baselines: recorded from traffic, compared with the present by compare_baseline, by the
performance_regression rule (and its notifications) and for the dashboard; the admin."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.test import Client, override_settings

from monitoring import runtime
from monitoring.alerts.engine import State, evaluate_rules
from monitoring.alerts.measures import MEASURES, format_value, read_measure
from monitoring.alerts.messages import describe
from monitoring.alerts.rules import RuleError, build_rule
from monitoring.alerts.service import evaluate_alerts
from monitoring.baselines import (
    RecordedBaseline,
    active_baseline,
    baseline_deltas,
    compare,
    load_baseline,
    measure_window,
    record_baseline,
)
from monitoring.management.commands.compare_baseline import Command as CompareCommand
from monitoring.models import AlertState, Baseline, BaselineRoute, Notification
from monitoring.stores.memory import MemoryStore
from tests.alerting import Traffic, rule, write_traffic
from tests.conftest import Clock, Monitored

# The site when it was fast: /slow/ is not slow yet; /rare/ is seldom asked for.
BEFORE = (
    Traffic()
    .requests("/fast/", 190, seconds=0.05, queries=3)
    .requests("/fast/", 10, status=500, seconds=0.05, queries=3)
    .requests("/slow/", 200, seconds=0.08, queries=4)
    .requests("/rare/", 5, seconds=0.05)
    .cache(hits=30, misses=10, route="/fast/")
)
# Now: /slow/ takes 2.5 times as long; /rare/ is slower still, but too rare to judge.
SLOWED = (
    Traffic()
    .requests("/fast/", 60, seconds=0.05, queries=3)
    .requests("/slow/", 60, seconds=0.2, queries=4)
    .requests("/rare/", 3, seconds=3)
)


def recorded(traffic: Traffic = BEFORE, name: str = "release-41") -> RecordedBaseline:
    return RecordedBaseline(name, 86400, 0.0, *measure_window(traffic.window()))


# The figures.


def test_figures_of_a_window_per_route_and_for_the_site() -> None:
    totals, routes = measure_window(BEFORE.window())
    assert sorted(routes) == ["/fast/", "/rare/", "/slow/"]
    fast = routes["/fast/"]
    assert (fast.requests, fast.error_rate, fast.queries_per_request) == (200, 0.05, 3.0)
    assert fast.cache_hit_rate == 0.75 and fast.request_rate == pytest.approx(200 / 300)
    assert fast.p95 == pytest.approx(0.05, rel=0.02)
    assert routes["/slow/"].p99 == pytest.approx(0.08, rel=0.02)
    assert routes["/rare/"].cache_hit_rate is None
    assert (totals.requests, totals.error_rate) == (405, pytest.approx(10 / 405))
    assert totals.queries_per_request == pytest.approx((200 * 3 + 200 * 4) / 405)
    assert totals.cache_hit_rate == 0.75


def test_compare_puts_the_regressed_route_first_and_does_not_judge_rare_ones() -> None:
    changes = compare(recorded(), SLOWED.window())
    assert [(c.route, c.verdict) for c in changes] == [
        ("/slow/", "regressed"),
        ("/fast/", "ok"),
        ("/rare/", "too few requests"),
    ]
    assert changes[0].ratios["p95"] == pytest.approx(2.5, rel=0.03)
    assert changes[0].ratios["queries_per_request"] == 1.0
    assert next(c.verdict for c in compare(recorded(), SLOWED.window(), threshold=3)) == "ok"
    assert compare(recorded(), SLOWED.window(), min_requests=100)[0].verdict == "too few requests"


def test_a_route_on_one_side_only_is_listed_not_judged() -> None:
    now = Traffic().requests("/new/", 100, seconds=2).window()
    changes = {c.route: c for c in compare(recorded(), now)}
    assert changes["/new/"].before is None and changes["/new/"].verdict == "too few requests"
    assert changes["/fast/"].after is None and changes["/fast/"].verdict == "too few requests"


def test_baseline_deltas_for_the_dashboard() -> None:
    deltas = baseline_deltas(SLOWED.window(), recorded())
    slow = deltas["/slow/"]
    assert slow["verdict"] == "regressed" and slow["worst"] == pytest.approx(2.5, rel=0.03)
    assert slow["baseline"]["requests"] == 200 and slow["now"]["requests"] == 60
    assert slow["now"]["p95"] == pytest.approx(0.2, rel=0.02)
    assert set(slow["ratios"]) == {"p95", "queries_per_request"}
    assert deltas["/fast/"]["verdict"] == "ok"


# The measures and the rule, on data.


def test_measures_versus_the_baseline_are_ratios_with_the_fewer_requests_as_samples() -> None:
    p95 = MEASURES["p95_vs_baseline"]
    value, samples = read_measure(p95, SLOWED.window(), "/slow/", recorded())
    assert value == pytest.approx(2.5, rel=0.03) and samples == 60
    assert read_measure(p95, SLOWED.window(), "/rare/", recorded())[1] == 3
    assert read_measure(p95, SLOWED.window(), "/slow/", None) == (None, 0)
    assert read_measure(p95, Traffic().requests("/x/", 9).window(), "/x/", recorded()) == (
        None,
        0,
    )
    # A route that made no queries counts as one query: 0 -> 40 reads 40x.
    none = recorded(Traffic().requests("/a/", 100, queries=0))
    now = Traffic().requests("/a/", 100, queries=40).window()
    queries = MEASURES["queries_per_request_vs_baseline"]
    assert read_measure(queries, now, "/a/", none) == (40.0, 100)


def test_below_the_floor_changes_are_noise() -> None:
    # A p95 under 10 ms counts as 10 ms: a 2 ms page taking 6 ms is no regression...
    quick = recorded(Traffic().requests("/ping/", 100, seconds=0.002))
    now = Traffic().requests("/ping/", 100, seconds=0.006).window()
    assert read_measure(MEASURES["p95_vs_baseline"], now, "/ping/", quick)[0] == 1.0
    assert compare(quick, now)[0].verdict == "ok"
    # ... and one taking 150 ms is 15x, which the description explains.
    slow = Traffic().requests("/ping/", 100, seconds=0.15).window()
    value = read_measure(MEASURES["p95_vs_baseline"], slow, "/ping/", quick)[0]
    assert value == pytest.approx(15, rel=0.02)
    state = State("performance_regression", "/ping/", "firing", 0.0)
    assert describe(rule("performance_regression"), state, value, quick) == (
        'p95 151 ms is 15.1x the baseline "release-41" (2.01 ms, counted as 10 ms) over 15m'
    )


def evaluate(baseline: RecordedBaseline | None, times: list[float]) -> list[tuple[str, str, str]]:
    regression = rule("performance_regression")
    states: dict[tuple[str, str], State] = {}
    seen = []
    for now in times:
        result = evaluate_rules([regression], {900: SLOWED.window()}, states, now, baseline)
        states = result.states
        seen += [(t.route, t.from_state, t.to_state) for t in result.transitions]
    return seen


def test_the_rule_fires_for_the_slowed_route_only_after_its_ten_minutes() -> None:
    assert evaluate(recorded(), [1000.0, 1300.0, 1600.0]) == [
        ("/slow/", "ok", "pending"),
        ("/slow/", "pending", "firing"),
    ]


def test_the_rule_does_nothing_without_a_baseline() -> None:
    assert evaluate(None, [1000.0, 1600.0, 2200.0]) == []


def test_the_description_names_the_baseline_and_its_figure() -> None:
    regression = rule("performance_regression")
    state = State("performance_regression", "/slow/", "firing", 0.0, samples=60)
    # Percentiles come from sketches (1% accuracy): 80 ms reads as 79.6 ms.
    text = describe(regression, state, 2.5, recorded())
    assert text == 'p95 199 ms is 2.5x the baseline "release-41" (79.6 ms) over 15m'
    assert format_value("factor", 1.5) == "1.5x" and format_value("factor", 2.375) == "2.38x"
    gone = describe(regression, state, None, None)
    assert gone == 'p95 no data is no data the baseline "(none)" (no data) over 15m'


def test_a_rule_of_ones_own_on_queries_gets_the_baseline_description() -> None:
    creep = build_rule(
        "query_creep",
        {"metric": "queries_per_request_vs_baseline", "operator": ">", "threshold": 2,
         "group_by": "route", "min_samples": 20},
    )  # fmt: skip
    now = Traffic().requests("/fast/", 60, queries=12).requests("/slow/", 60, queries=4)
    result = evaluate_rules([creep], {300: now.window()}, {}, 0.0, recorded())
    (fired,) = result.transitions
    assert (fired.route, fired.to_state, fired.value) == ("/fast/", "firing", 4.0)
    text = describe(creep, fired.state, fired.value, recorded())
    assert text == 'queries per request 12 is 4x the baseline "release-41" (3) over 5m'


def test_baseline_fields_are_only_for_rules_versus_the_baseline() -> None:
    fields = {"metric": "request_duration_p95", "operator": ">", "threshold": 1}
    with pytest.raises(RuleError, match="description cannot be formatted"):
        build_rule("x", {**fields, "description": "{value} vs {baseline_value}"})


# Recorded in the database, read by the service.


@pytest.fixture
def store(clock: Clock) -> MemoryStore:
    return MemoryStore(clock=clock)


@pytest.mark.django_db
def test_record_and_load_a_baseline(store: MemoryStore, clock: Clock) -> None:
    write_traffic(store, BEFORE, clock.now - 60)
    row = record_baseline("release-41", store.read_window(3600), 3600)
    assert (row.name, row.window_seconds, row.requests) == ("release-41", 3600, 405)
    assert row.recorded_at.timestamp() == clock.now
    fast = BaselineRoute.objects.get(baseline=row, route="/fast/")
    assert (fast.requests, fast.error_rate, fast.cache_hit_rate) == (200, 0.05, 0.75)
    loaded = load_baseline("release-41")
    assert loaded is not None and (loaded.name, loaded.recorded_at) == ("release-41", clock.now)
    assert loaded.totals.requests == 405 and sorted(loaded.routes) == [
        "/fast/",
        "/rare/",
        "/slow/",
    ]
    assert loaded.routes["/slow/"].p95 == pytest.approx(0.08, rel=0.02)
    assert load_baseline("nope") is None


@pytest.mark.django_db
def test_the_active_baseline_is_the_latest_unless_one_is_pinned(
    store: MemoryStore, clock: Clock
) -> None:
    write_traffic(store, BEFORE, clock.now - 60)
    record_baseline("release-40", store.read_window(3600))
    clock.advance(60)
    record_baseline("release-41", store.read_window(3600))
    assert active_baseline() is not None and active_baseline().name == "release-41"  # type: ignore[union-attr]
    with override_settings(MONITORING={"STORE_URL": "memory://", "ACTIVE_BASELINE": "release-40"}):
        assert active_baseline().name == "release-40"  # type: ignore[union-attr]
    with override_settings(MONITORING={"STORE_URL": "memory://", "ACTIVE_BASELINE": "gone"}):
        assert active_baseline() is None


@pytest.mark.django_db
@override_settings(
    MONITORING={"STORE_URL": "memory://", "ALERT_EMAIL_ENABLED": True,
                "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"]}
)  # fmt: skip
def test_the_service_fires_the_rule_with_the_baseline_figure_in_the_notification(
    store: MemoryStore, clock: Clock
) -> None:
    write_traffic(store, BEFORE, clock.now - 3 * 3600)
    record_baseline("release-41", store.read_window(86400))
    write_traffic(store, SLOWED, clock.now - 30)
    assert evaluate_alerts(store).pending == 1
    clock.advance(600)
    write_traffic(store, SLOWED, clock.now - 30)
    assert evaluate_alerts(store).firing == 1
    alert = AlertState.objects.get()
    assert (alert.rule, alert.route, alert.threshold) == ("performance_regression", "/slow/", 1.5)
    text = 'p95 200 ms is 2.51x the baseline "release-41" (79.6 ms) over 15m'
    assert alert.summary == f"performance_regression on /slow/: {text}"
    payload = Notification.objects.get().payload
    assert payload["description"] == text
    assert (payload["value_text"], payload["threshold_text"]) == ("2.51x", "1.5x")


@pytest.mark.django_db
def test_an_unreadable_baseline_leaves_the_other_rules_running(
    store: MemoryStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object) -> None:
        raise DatabaseError("no such table: monitoring_baseline")

    monkeypatch.setattr("monitoring.baselines.active_baseline", missing)
    write_traffic(store, Traffic().requests("/a/", 5).connection_errors(1), clock.now - 5)
    outcome = evaluate_alerts(store)
    assert [(t.rule, t.to_state) for t in outcome.transitions] == [
        ("database_connection_errors", "firing")
    ]


@pytest.mark.django_db
def test_without_a_baseline_the_service_evaluates_quietly(
    store: MemoryStore, clock: Clock
) -> None:
    write_traffic(store, SLOWED, clock.now - 30)
    outcome = evaluate_alerts(store)
    assert (outcome.pending, outcome.firing, outcome.transitions) == (0, 0, [])


# The commands, on the process's store.


def traffic_then_baseline(name: str = "release-41") -> None:
    store = runtime.get_store()
    write_traffic(store, BEFORE, time.time() - 3 * 3600)
    call_command("record_baseline", name, stdout=StringIO())


@pytest.mark.django_db
def test_record_baseline_command(monitored: Monitored) -> None:
    write_traffic(runtime.get_store(), BEFORE, time.time() - 60)
    out = StringIO()
    call_command("record_baseline", "release-41", "--window", "1h", stdout=out)
    assert out.getvalue().splitlines() == [
        'baseline "release-41": the last 1h, 405 requests on 3 routes; p95 79.6 ms, 3.46 queries '
        "per request, error rate 2.47%, cache hit rate 75%",
        "it is the active baseline (the most recently recorded)",
    ]
    assert Baseline.objects.get().window_seconds == 3600
    with pytest.raises(CommandError, match="already recorded; --replace records it again"):
        call_command("record_baseline", "release-41", stdout=StringIO())
    call_command("record_baseline", "release-41", "--replace", stdout=StringIO())
    assert Baseline.objects.get().window_seconds == 86400
    assert BaselineRoute.objects.count() == 3
    pinned = {"STORE_URL": "memory://", "ACTIVE_BASELINE": "release-41"}
    with override_settings(MONITORING=pinned):
        write_traffic(runtime.get_store(), BEFORE, time.time() - 60)
        out = StringIO()
        call_command("record_baseline", "release-42", stdout=out)
    assert out.getvalue().splitlines()[1] == (
        'the active baseline is still "release-41" (ACTIVE_BASELINE)'
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["x", "--window", "2 days"], "--window 2 days: use a duration such as 30m, 6h or 24h"),
        (["x", "--window", "48h"], "--window must be between 1m and the retention (24h"),
        (["x"], "no requests in the last 24h: nothing to record"),
    ],
)
def test_record_baseline_refuses_bad_input(
    monitored: Monitored, argv: list[str], message: str
) -> None:
    with pytest.raises(CommandError) as failure:
        call_command("record_baseline", *argv, stdout=StringIO())
    assert message in str(failure.value)


@pytest.mark.django_db
def test_compare_baseline_flags_the_slowed_route_worst_first(monitored: Monitored) -> None:
    traffic_then_baseline()
    write_traffic(runtime.get_store(), SLOWED, time.time() - 60)
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("compare_baseline", "release-41", stdout=out)
    assert failure.value.returncode == 1
    assert str(failure.value) == (
        '1 of 3 routes regressed past 1.25x the baseline "release-41": '
        "/slow/ (p95 +151%, queries per request +0%)"
    )
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('Baseline "release-41" (24h, recorded 20')
    assert lines[0].endswith(" UTC) against the last 1h.")
    assert lines[1] == (
        "Regressed: p95 or queries per request above 1.25x the baseline (p95 under 10 ms "
        "counts as that much, queries per request under 1 counts as that much). Not judged: "
        "fewer than 50 requests on either side."
    )
    assert lines[3].split() == [
        "route", "requests", "(baseline", "/", "now)", "p95", "queries", "per", "request",
        "error", "rate",
    ]  # fmt: skip
    assert lines[4].split() == [
        "/slow/", "200", "/", "60", "79.6", "ms", "->", "200", "ms", "(+151%)",
        "4", "->", "4", "(+0%)", "0%", "->", "0%", "REGRESSED",
    ]  # fmt: skip
    assert lines[5].startswith("/fast/") and lines[5].endswith("ok")
    assert lines[6].startswith("/rare/") and lines[6].endswith("too few requests")


@pytest.mark.django_db
def test_compare_baseline_passes_within_the_threshold(monitored: Monitored) -> None:
    traffic_then_baseline()
    write_traffic(runtime.get_store(), SLOWED, time.time() - 60)
    out = StringIO()
    call_command("compare_baseline", "release-41", "--threshold", "3", stdout=out)
    assert "REGRESSED" not in out.getvalue()


@pytest.mark.django_db
def test_compare_baseline_exits_1_with_one_line_on_stderr(
    monitored: Monitored, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic_then_baseline()
    write_traffic(runtime.get_store(), SLOWED, time.time() - 60)
    with pytest.raises(SystemExit) as exit_status:
        argv = ["manage.py", "compare_baseline", "release-41", "--skip-checks"]
        CompareCommand().run_from_argv(argv)
    assert exit_status.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("CommandError: 1 of 3 routes regressed")


@pytest.mark.django_db
def test_compare_baseline_with_an_unknown_name(monitored: Monitored) -> None:
    with pytest.raises(CommandError) as failure:
        call_command("compare_baseline", "release-9", stdout=StringIO())
    assert str(failure.value) == (
        'no baseline named "release-9"; recorded: none (manage.py record_baseline NAME)'
    )
    traffic_then_baseline()
    with pytest.raises(CommandError, match='no baseline named "release-9"; recorded: release-41'):
        call_command("compare_baseline", "release-9", stdout=StringIO())


@pytest.mark.django_db
def test_a_baseline_from_real_requests(monitored: Monitored) -> None:
    client = Client()
    for _ in range(6):
        client.get("/t/queries/3/")
        client.get("/t/plain/")
    monitored.flush()
    call_command("record_baseline", "real", "--window", "5m", stdout=StringIO())
    routes = {r.route: r for r in BaselineRoute.objects.all()}
    assert set(routes) == {"/t/queries/<int:n>/", "/t/plain/"}
    assert routes["/t/queries/<int:n>/"].queries_per_request == 3.0
    assert routes["/t/plain/"].requests == 6 and routes["/t/plain/"].p95 is not None


# The admin.


@pytest.mark.django_db
def test_the_admin_shows_baselines_read_only(store: MemoryStore, clock: Clock) -> None:
    write_traffic(store, BEFORE, clock.now - 60)
    row = record_baseline("release-41", store.read_window(3600), 3600)
    client = Client()
    client.force_login(User.objects.create_superuser("alice", "alice@example.com", "pw"))
    listing = client.get("/admin/monitoring/baseline/").content.decode()
    assert "release-41" in listing and "79.6 ms" in listing and "2.47%" in listing
    page = client.get(f"/admin/monitoring/baseline/{row.pk}/change/").content.decode()
    assert "/slow/" in page and "/rare/" in page and "75%" in page
    assert 'name="_save"' not in page  # nothing to change
    assert client.get("/admin/monitoring/baseline/add/").status_code == 403
    assert client.get("/admin/monitoring/baselineroute/").status_code == 404
    # A baseline no longer wanted can be deleted, with its routes.
    client.post(f"/admin/monitoring/baseline/{row.pk}/delete/", {"post": "yes"})
    assert Baseline.objects.count() == BaselineRoute.objects.count() == 0
