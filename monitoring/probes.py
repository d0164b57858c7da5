"""Liveness and readiness of the background service on a port of its own, for Kubernetes
probes (``run_monitoring --probe-port 8081``): the service serves no site, so it answers
``/healthz/`` and ``/readyz/`` itself.

- ``/healthz/``: 200 while the loop is alive, 503 when its current cycle started more than
  three intervals ago (a hung cycle: restart the container).
- ``/readyz/``: 200 when the last cycle completed every step, 503 (with the steps that
  failed) otherwise, or before the first cycle.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .service import CycleReport


class Observed(Protocol):
    interval: float
    started: float
    last_started: float | None
    last_report: CycleReport | None


def liveness(service: Observed, now: float | None = None) -> tuple[int, str]:
    now = time.monotonic() if now is None else now
    since = service.last_started if service.last_started is not None else service.started
    age = now - since
    if age > 3 * service.interval:
        return 503, f"stuck: the current cycle started {age:.0f} s ago"
    return 200, "ok"


def readiness(service: Observed) -> tuple[int, str]:
    report = service.last_report
    if report is None:
        return 503, "not ready: no cycle completed yet"
    if report.failed:
        return 503, f"not ready: the last cycle failed in {', '.join(report.failed)}"
    return 200, f"ok ({'leader' if report.leading else 'follower'})"


class ProbeServer:
    """A small HTTP server in a daemon thread answering the two probes."""

    def __init__(self, service: Observed, host: str, port: int) -> None:
        self.service = service
        self.server = ThreadingHTTPServer((host, port), _handler(service))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="monitoring-probes", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> ProbeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(service: Observed) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/healthz":
                status, text = liveness(service)
            elif path == "/readyz":
                status, text = readiness(service)
            else:
                status, text = 404, "not found: use /healthz/ or /readyz/"
            body = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would flood the service's log

    return Handler
