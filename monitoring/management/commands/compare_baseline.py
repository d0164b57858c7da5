"""``manage.py compare_baseline NAME [--window 1h] [--threshold 1.25] [--min-requests 50]``:
each route now against the baseline NAME, worst first; exit status 1 when a route's p95 or
queries per request is above ``threshold`` times the baseline's (for deploy pipelines).

manage.py compare_baseline release-41
manage.py compare_baseline release-41 --window 30m --threshold 1.5 --min-requests 20
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import runtime
from monitoring.alerts.measures import format_value
from monitoring.baselines import (
    DEFAULT_MIN_REQUESTS,
    DEFAULT_THRESHOLD,
    JUDGED,
    REGRESSED,
    RouteChange,
    baseline_names,
    compare,
    load_baseline,
)
from monitoring.channels.formatting import when
from monitoring.report import change_cells, span

from .record_baseline import window_seconds

HEADER = ("route", "requests (baseline / now)", *(v.label for v in JUDGED), "error rate", "")


def _row(change: RouteChange) -> tuple[str, ...]:
    before, after = change.before, change.after
    requests = f"{before.requests if before else 0:.0f} / {after.requests if after else 0:.0f}"
    verdict = change.verdict.upper() if change.verdict == REGRESSED else change.verdict
    return (change.route, requests, *change_cells(change), verdict)


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _worse(change: RouteChange) -> str:
    parts = [
        f"{v.label} {(ratio - 1) * 100:+.0f}%"
        for v in JUDGED
        if (ratio := change.ratios[v.figure]) is not None
    ]
    return f"{change.route} ({', '.join(parts)})"


class Command(BaseCommand):
    help = (
        "Compare each route over the last --window with the baseline NAME, worst first; exit "
        "status 1 when a route's p95 or queries per request regressed past --threshold."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="a baseline recorded with record_baseline")
        parser.add_argument("--window", default="1h", help="how far back: 30m, 1h (default)")
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
        parser.add_argument("--min-requests", type=int, default=DEFAULT_MIN_REQUESTS)

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        baseline = load_baseline(name)
        if baseline is None:
            known = ", ".join(baseline_names()) or "none (manage.py record_baseline NAME)"
            raise CommandError(f'no baseline named "{name}"; recorded: {known}')
        threshold, least = options["threshold"], options["min_requests"]
        if threshold <= 0 or least < 0:
            raise CommandError("--threshold must be positive and --min-requests at least 0")
        store = runtime.get_store()
        seconds = window_seconds(options["window"], store.retention_seconds, 3600)
        changes = compare(baseline, store.read_window(seconds), threshold, least)
        floors = ", ".join(
            f"{v.label} under {format_value(v.unit, v.floor)} counts as that much" for v in JUDGED
        )
        self.stdout.write(
            f'Baseline "{name}" ({span(baseline.window_seconds)}, recorded '
            f"{when(baseline.recorded_at)}) against the last {span(seconds)}.\n"
            f"Regressed: p95 or queries per request above {threshold:g}x the baseline ({floors})."
            f" Not judged: fewer than {least} requests on either side.\n\n"
        )
        self.stdout.write("\n".join(table([HEADER, *map(_row, changes)])))
        regressed = [change for change in changes if change.verdict == REGRESSED]
        if regressed:
            raise CommandError(
                f"{len(regressed)} of {len(changes)} routes regressed past {threshold:g}x the "
                f'baseline "{name}": ' + "; ".join(map(_worse, regressed)),
                returncode=1,
            )
