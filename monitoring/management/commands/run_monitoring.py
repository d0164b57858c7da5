"""``manage.py run_monitoring [--once] [--interval SECONDS]``: the background service."""

from __future__ import annotations

import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring import config, runtime
from monitoring.leader import lease_for
from monitoring.probes import ProbeServer
from monitoring.service import Service, run_cycle


class Command(BaseCommand):
    help = (
        "Sample this host; on the one copy that holds the lease, also evaluate the alert "
        "rules, deliver notifications and remove expired data; every "
        "METRICS_COLLECTION_INTERVAL seconds. SIGTERM or SIGINT ends it after the current "
        "step."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle and exit.")
        parser.add_argument(
            "--interval", type=float, help="Seconds between cycles (default: the setting)."
        )
        parser.add_argument(
            "--probe-port",
            type=int,
            help="Answer /healthz/ and /readyz/ on this port (for Kubernetes probes).",
        )
        parser.add_argument(
            "--probe-host", default="0.0.0.0", help="Address the probes listen on."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        interval = options["interval"] or config.get_config()["COLLECTION_INTERVAL"]
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds")
        store = runtime.get_store()
        # Held for 1.5 intervals and renewed every cycle: a dead leader is replaced within
        # two intervals (followers look at the lease four times per interval).
        lease = lease_for(store, ttl=1.5 * interval)
        if options["once"]:
            report = run_cycle(store, lease=lease)
            lease.release()
            if report.failed:
                raise CommandError(f"cycle failed in: {', '.join(report.failed)}")
            return
        service = Service(interval, store, lease)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: service.stop.set())
        probes = self._probes(service, options["probe_host"], options["probe_port"])
        try:
            service.run()
        finally:
            if probes is not None:
                probes.stop()
        runtime.flush()
        sys.stdout.flush()

    def _probes(self, service: Service, host: str, port: int | None) -> ProbeServer | None:
        if port is None:
            return None
        try:
            return ProbeServer(service, host, port).start()
        except OSError as exc:
            raise CommandError(
                f"--probe-port {port}: cannot listen on {host}: {exc.strerror}"
            ) from None
