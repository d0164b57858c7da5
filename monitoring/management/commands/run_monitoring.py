"""``manage.py run_monitoring [--once] [--interval SECONDS]``: the background service."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import config
from monitoring.service import run_cycle


class Command(BaseCommand):
    help = (
        "Evaluate the alert rules, deliver notifications and remove expired data, every "
        "METRICS_COLLECTION_INTERVAL seconds; stops cleanly on SIGTERM or SIGINT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle and exit.")
        parser.add_argument(
            "--interval", type=float, help="Seconds between cycles (default: the setting)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or config.get_config()["COLLECTION_INTERVAL"]
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds")
        if options["once"]:
            report = run_cycle()
            if report.failed:
                raise CommandError(f"cycle failed in: {', '.join(report.failed)}")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.is_set():
            started = time.monotonic()
            run_cycle()
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
