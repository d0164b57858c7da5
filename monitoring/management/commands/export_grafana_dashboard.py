"""``manage.py export_grafana_dashboard [--output FILE]``: the Grafana dashboard's JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.dashboards import dashboard_text


class Command(BaseCommand):
    help = (
        "Write the Grafana dashboard for the monitoring app's Prometheus metrics (import it "
        "in Grafana under Dashboards > New > Import) to standard output or --output FILE."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="file to write instead of standard output")

    def handle(self, *args: Any, output: str | None, **options: Any) -> None:
        text = dashboard_text()
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
        self.stdout.write(f"wrote the Grafana dashboard to {output}")
