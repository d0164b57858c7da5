"""``manage.py record_baseline NAME [--window 24h] [--replace]``: keep the site's
performance now (each route's p50/p95/p99, request and error rates, queries per request and
cache hit rate) as the baseline NAME, which compare_baseline and the performance_regression
rule compare with.

manage.py record_baseline release-41
manage.py record_baseline release-41 --window 6h --replace
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import config, runtime
from monitoring.alerts.measures import format_value
from monitoring.baselines import BaselineExists, active_baseline, record_baseline
from monitoring.params import parse_duration
from monitoring.report import span
from monitoring.summary import request_counts


def window_seconds(text: str | None, retention: int, default: int) -> int:
    """``--window`` in seconds, between a minute and the retention (CommandError if not)."""
    try:
        seconds = default if text is None else parse_duration(text)
    except ValueError:
        raise CommandError(f"--window {text}: use a duration such as 30m, 6h or 24h") from None
    if not 60 <= seconds <= retention:
        raise CommandError(
            f"--window must be between 1m and the retention ({span(retention)}, RETENTION_HOURS)"
        )
    return seconds


class Command(BaseCommand):
    help = (
        "Record the site's performance over the last --window (default 24h, or the retention "
        "when shorter) as the baseline NAME; --replace to record an existing NAME again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the baseline's name, e.g. release-41")
        parser.add_argument("--window", help="how far back: 1h, 6h, 24h (default 24h)")
        parser.add_argument(
            "--replace", action="store_true", help="replace the baseline NAME if it exists"
        )

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        if not 0 < len(name) <= 100:
            raise CommandError("NAME must be 1 to 100 characters")
        store = runtime.get_store()
        retention = store.retention_seconds
        seconds = window_seconds(options["window"], retention, min(86400, retention))
        window = store.read_window(seconds)
        if not request_counts(window)[0]:
            raise CommandError(f"no requests in the last {span(seconds)}: nothing to record")
        try:
            row = record_baseline(name, window, seconds, replace=options["replace"])
        except BaselineExists:
            raise CommandError(
                f'a baseline named "{name}" is already recorded; --replace records it again'
            ) from None
        self.stdout.write(
            f'baseline "{name}": the last {span(seconds)}, {row.requests:,} requests on '
            f"{row.routes.count()} routes; p95 {format_value('seconds', row.p95)}, "
            f"{format_value('number', row.queries_per_request)} queries per request, "
            f"error rate {format_value('ratio', row.error_rate)}, "
            f"cache hit rate {format_value('ratio', row.cache_hit_rate)}"
        )
        self.stdout.write(self._active(name))

    def _active(self, name: str) -> str:
        pinned = config.get_config()["ACTIVE_BASELINE"]
        active = active_baseline()
        if pinned is None:
            return "it is the active baseline (the most recently recorded)"
        if active is not None and active.name == name:
            return "it is the active baseline (ACTIVE_BASELINE)"
        return f'the active baseline is still "{pinned}" (ACTIVE_BASELINE)'
