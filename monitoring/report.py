"""The performance report: where the time goes, what got slower than the baseline, the
costliest queries, the cache and the alerts of a period, as Markdown.

:func:`build_report` is pure: a window, the alert history and a baseline in, Markdown out.
:func:`render_report` reads them (``manage.py monitoring_report`` and the scheduled report
of ``run_monitoring``) and :func:`email_report` sends the result.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from . import config
from .alerts.measures import format_value
from .baselines import (
    DEFAULT_MIN_REQUESTS,
    DEFAULT_THRESHOLD,
    JUDGED,
    REGRESSED,
    TOO_FEW,
    RecordedBaseline,
    RouteChange,
    active_baseline,
    compare,
    load_baseline,
    measure_window,
)
from .channels.formatting import when
from .params import parse_duration
from .performance import cache_report, queries_report
from .recording import metrics as m
from .recording.aggregate import Histogram
from .stores.base import BaseStore
from .window import Window

SQL_CHARS = 200


@dataclass(frozen=True)
class AlertEntry:
    """One alert transition of the history (an ``AlertEvent``), ``at`` in epoch seconds."""

    rule: str
    route: str
    to_state: str
    at: float


def span(seconds: float) -> str:
    """A duration as people say it: ``850 ms``, ``42.1 s``, ``12m 5s``, ``24h``, ``7d``."""
    if seconds < 60:
        return format_value("seconds", seconds)
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    units = units if seconds >= 2 * 86400 else units[1:]  # "36h" reads better than "1d 12h"
    big, size = next((name, size) for name, size in units if seconds >= size)
    small, small_size = units[units.index((big, size)) + 1]
    whole, rest = divmod(int(seconds), size)
    part = rest // small_size
    return f"{whole}{big}" + (f" {part}{small}" if part else "")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(sql: str) -> str:
    sql = " ".join(sql.split())
    sql = sql if len(sql) <= SQL_CHARS else sql[: SQL_CHARS - 1] + "…"
    # MySQL quotes names in backticks: a double-backtick code span holds them.
    return f"`` {sql} ``" if "`" in sql else f"`{sql}`"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines if len(lines) > 2 else ["Nothing in this period."]


def change_text(unit: str, before: float | None, after: float | None, ratio: Any = None) -> str:
    """``80 ms -> 240 ms (+200%)``: a figure in the baseline and now, and the change."""
    text = f"{format_value(unit, before)} -> {format_value(unit, after)}"
    return text if ratio is None else f"{text} ({(ratio - 1) * 100:+.0f}%)"


def change_cells(change: RouteChange) -> list[str]:
    """The change of each judged figure, then of the error rate, as text."""

    def pair(name: str) -> tuple[float | None, float | None]:
        return getattr(change.before, name, None), getattr(change.after, name, None)

    cells = [change_text(v.unit, *pair(v.figure), change.ratios[v.figure]) for v in JUDGED]
    return [*cells, change_text("ratio", *pair("error_rate"))]


def _header(window: Window, period: int, kept: int, site: str) -> list[str]:
    lines = [f"# Performance report: {site}", ""]
    text = f"Period: the last {span(period)}, to {when(window.end)}."
    if kept < period:
        text += (
            f" Metrics are kept for {span(kept)} (RETENTION_HOURS), so requests, queries"
            f" and cache cover only the last {span(kept)}, from {when(window.end - kept)};"
            " alerts cover the whole period."
        )
    return [*lines, text]


def _seconds(value: float | None) -> str:
    return format_value("seconds", value)


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _overview(window: Window) -> list[str]:
    totals = measure_window(window)[0]
    rate = format_value("per_second", totals.request_rate)
    rows = [
        ("requests", f"{_count(totals.requests)} ({rate})"),
        ("errors (5xx)", format_value("ratio", totals.error_rate)),
        (
            "latency p50 / p95 / p99",
            " / ".join(map(_seconds, (totals.p50, totals.p95, totals.p99))),
        ),
        ("queries per request", format_value("number", totals.queries_per_request)),
        ("cache hit rate", format_value("ratio", totals.cache_hit_rate)),
    ]
    return ["## Overview", "", *_table(("measure", "value"), rows)]


def _time_spent(window: Window, limit: int) -> list[str]:
    durations = [
        (route, hist)
        for route, hist in window.by(m.REQUEST_DURATION, "route").items()
        if isinstance(hist, Histogram) and hist.count
    ]
    whole = sum(hist.sum for _, hist in durations) or 1.0
    rows = [
        (route, _count(h.count), span(h.sum), format_value("ratio", h.sum / whole),
         _seconds(h.sum / h.count), _seconds(h.quantile(0.95)))
        for route, h in sorted(durations, key=lambda item: -item[1].sum)[:limit]
    ]  # fmt: skip
    header = ("route", "requests", "time spent", "share", "mean", "p95")
    return ["## Where the time goes", "", *_table(header, rows)]


def _slowest(window: Window, limit: int) -> list[str]:
    routes = [(route, f) for route, f in measure_window(window)[1].items() if f.p95 is not None]
    rows = [
        (route, _count(f.requests), _seconds(f.p50), _seconds(f.p95), _seconds(f.p99))
        for route, f in sorted(routes, key=lambda item: -(item[1].p95 or 0))[:limit]
    ]
    header = ("route", "requests", "p50", "p95", "p99")
    return ["## Slowest routes (p95)", "", *_table(header, rows)]


def _regressions(window: Window, baseline: RecordedBaseline | None) -> list[str]:
    if baseline is None:
        return ["## Regressions", "", "No baseline to compare with: `manage.py record_baseline`."]
    changes = compare(baseline, window)
    regressed = [c for c in changes if c.verdict == REGRESSED]
    lines = [
        f'## Regressions against the baseline "{baseline.name}"',
        "",
        f"Recorded {when(baseline.recorded_at)} over {span(baseline.window_seconds)}. A route"
        f" regressed when its p95 or queries per request is above {DEFAULT_THRESHOLD}x the"
        f" baseline's (routes with at least {DEFAULT_MIN_REQUESTS} requests on both sides).",
        "",
    ]
    header = ("route", *(v.label for v in JUDGED), "error rate")
    rows = [(c.route, *change_cells(c)) for c in regressed]
    lines += _table(header, rows) if rows else ["No route regressed."]
    few = sum(1 for c in changes if c.verdict == TOO_FEW)
    within = len(changes) - len(regressed) - few
    total = f"{within} within {DEFAULT_THRESHOLD}x, {few} not judged (too few requests)"
    return [*lines, "", f"Of {len(changes)} routes: {len(regressed)} regressed, {total}."]


def _queries(window: Window, limit: int) -> list[str]:
    found = queries_report(window, limit=limit, sort="total")
    rows = [
        (span(q["total_ms"] / 1000), _count(q["count"]), _seconds(q["mean_ms"] / 1000),
         _seconds((q["p95_ms"] or 0) / 1000), _code(q["sql"] or q["fingerprint"]))
        for q in found["queries"]
    ]  # fmt: skip
    suspects = [
        (n["route"], _count(n["requests"]), n["max_repetitions"],
         _code(n["sql"] or n["fingerprint"]))
        for n in found["n_plus_one"]
    ]  # fmt: skip
    return [
        "## Most expensive queries",
        "",
        *_table(("total time", "executions", "mean", "p95", "SQL"), rows),
        "",
        "## N+1 suspects",
        "",
        *_table(("route", "requests", "most repetitions", "SQL"), suspects),
    ]


def _cache(window: Window, limit: int) -> list[str]:
    found = cache_report(window, limit=limit)
    overall = found["overall"]
    rate = format_value("ratio", overall["hit_rate"])
    text = f"Overall hit rate {rate} ({overall['hits']:,} hits, {overall['misses']:,} misses)."
    rows = [
        (p["cache"], p["prefix"], _count(p["hits"]), _count(p["misses"]),
         format_value("ratio", p["hit_rate"]))
        for p in found["prefixes"]
    ]  # fmt: skip
    header = ("cache", "prefix", "hits", "misses", "hit rate")
    return ["## Cache", "", text, "", *_table(header, rows)]


def _alerts(history: Sequence[AlertEntry]) -> list[str]:
    fired: dict[str, int] = defaultdict(int)
    took: dict[str, list[float]] = defaultdict(list)
    open_since: dict[tuple[str, str], float] = {}
    for entry in sorted(history, key=lambda e: e.at):
        key = (entry.rule, entry.route)
        if entry.to_state == "firing":
            fired[entry.rule] += 1
            open_since[key] = entry.at
        elif entry.to_state == "resolved" and key in open_since:
            took[entry.rule].append(entry.at - open_since.pop(key))
    still = defaultdict(int, {rule: 0 for rule in fired})
    for rule, _ in open_since:
        still[rule] += 1
    rows = [
        (rule, count, len(took[rule]), span(statistics.median(took[rule])) if took[rule] else "-",
         span(max(took[rule])) if took[rule] else "-", still[rule])
        for rule, count in sorted(fired.items(), key=lambda item: -item[1])
    ]  # fmt: skip
    header = ("rule", "fired", "resolved", "median time to resolve", "longest", "still firing")
    return ["## Alerts", "", *_table(header, rows)]


def build_report(
    window: Window,
    history: Sequence[AlertEntry],
    baseline: RecordedBaseline | None,
    period: int,
    kept: int | None = None,
    site: str = "the site",
    limit: int = 10,
) -> str:
    """The report of the last ``period`` seconds as Markdown: ``window`` holds the metrics
    of the last ``kept`` seconds (the store's retention, when shorter than the period),
    ``history`` the alert transitions of the whole period."""
    sections = [
        _header(window, period, period if kept is None else kept, site),
        _overview(window),
        _time_spent(window, limit),
        _slowest(window, limit),
        _regressions(window, baseline),
        _queries(window, limit),
        _cache(window, limit),
        _alerts(history),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def report_period(cfg: dict[str, Any]) -> int:
    """Seconds a report looks back by default: ``REPORT_PERIOD``, else the schedule's
    period, else 7 days."""
    period = cfg["REPORT_PERIOD"]
    if period is None:
        return config.REPORT_SCHEDULES.get(cfg["REPORT_SCHEDULE"] or "weekly", 7 * 86400)
    return period if isinstance(period, int) else parse_duration(period)


class NoRecipients(ValueError):
    """The report is to be emailed, but ``ALERT_EMAIL_RECIPIENTS`` is empty."""


def site_name() -> str:
    """The site as the report names it: ``SITE_URL``, else this host's name."""
    from .alerts.messages import host_name

    return config.get_config()["SITE_URL"] or host_name()


def render_report(
    store: BaseStore, period: int, now: float, baseline_name: str | None = None
) -> str:
    """Read the period's metrics (up to the retention), alert history and the baseline
    (``baseline_name``, else the active one) and build the report.

    Raises LookupError when ``baseline_name`` names no baseline.
    """
    from .alerts.service import to_datetime
    from .models import AlertEvent

    baseline = load_baseline(baseline_name) if baseline_name else active_baseline()
    if baseline_name and baseline is None:
        raise LookupError(baseline_name)
    kept = min(period, store.retention_seconds)
    window = store.read_window(kept, now=now)
    rows = AlertEvent.objects.filter(at__gt=to_datetime(now - period), at__lte=to_datetime(now))
    history = [
        AlertEntry(rule, route, state, at.timestamp())
        for rule, route, state, at in rows.values_list("rule", "route", "to_state", "at")
    ]
    return build_report(window, history, baseline, period, kept, site_name())


def email_report(text: str, period: int, now: float) -> str:
    """Email the report to ``ALERT_EMAIL_RECIPIENTS``: the Markdown as the body and as an
    attached ``.md`` file. Returns who it went to: "2 recipients"."""
    cfg = config.get_config()
    recipients = cfg["ALERT_EMAIL_RECIPIENTS"]
    if not recipients:
        raise NoRecipients("no recipients: set ALERT_EMAIL_RECIPIENTS to email the report")
    email = EmailMessage(
        subject=f"Performance report: {site_name()}, the last {span(period)}",
        body=text,
        from_email=cfg["ALERT_EMAIL_FROM"] or settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        connection=get_connection(fail_silently=False, timeout=cfg["ALERT_HTTP_TIMEOUT"]),
    )
    day = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")
    email.attach(f"performance-report-{day}.md", text, "text/markdown")
    email.send()
    return f"{len(recipients)} recipient" + ("s" if len(recipients) > 1 else "")
