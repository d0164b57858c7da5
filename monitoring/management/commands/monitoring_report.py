"""``manage.py monitoring_report [--period 7d] [--email] [--baseline NAME]``: the
performance report (time spent by route, slowest routes, regressions against the baseline,
costliest queries, N+1 suspects, cache, alerts and time to resolve) as Markdown.

manage.py monitoring_report > report.md
manage.py monitoring_report --period 24h --baseline release-41 --email
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import config, runtime
from monitoring.params import parse_duration
from monitoring.report import NoRecipients, email_report, render_report, report_period


class Command(BaseCommand):
    help = (
        "Write the performance report of the last --period (default REPORT_PERIOD, else 7d; "
        "metrics reach back as far as the retention) as Markdown, or --email it to "
        "ALERT_EMAIL_RECIPIENTS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", help="how far back: 24h, 7d (default: REPORT_PERIOD)")
        parser.add_argument("--email", action="store_true", help="email it instead")
        parser.add_argument("--baseline", help="compare with this baseline (default: active)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = parse_duration(options["period"]) if options["period"] else None
        except ValueError:
            raise CommandError(f"--period {options['period']}: use e.g. 24h or 7d") from None
        period = period or report_period(config.get_config())
        if period < 60:
            raise CommandError("--period must be at least 1m")
        now = time.time()
        try:
            text = render_report(runtime.get_store(), period, now, options["baseline"])
        except LookupError:
            raise CommandError(f'no baseline named "{options["baseline"]}"') from None
        if not options["email"]:
            self.stdout.write(text, ending="")
            return
        try:
            sent = email_report(text, period, now)
        except NoRecipients as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"report emailed to {sent}")
