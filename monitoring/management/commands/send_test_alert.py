"""``manage.py send_test_alert --channel slack``: check that a channel's alerts arrive."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.channels import enabled
from monitoring.channels.testing import build_test_message, send_test_message


class Command(BaseCommand):
    help = (
        "Send a notification marked [TEST] through one alert channel (or every enabled one, "
        "with --channel all) right now, and say whether it went out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel",
            required=True,
            help="slack, pagerduty, email, webhook, alertmanager, another channel, or all",
        )
        parser.add_argument("--severity", default="info", choices=["critical", "warning", "info"])

    def handle(self, *args: Any, channel: str, severity: str, **options: Any) -> None:
        names = enabled() if channel == "all" else [channel]
        if not names:
            raise CommandError("no alert channel is enabled (e.g. set ALERT_SLACK_ENABLED=true)")
        message = build_test_message(severity=severity)
        failures = []
        for name in names:
            problem = send_test_message(name, message)
            if problem is None:
                self.stdout.write(f"{name}: sent")
            else:
                failures.append(f"{name}: not sent: {problem}")
        if failures:
            raise CommandError("; ".join(failures))
