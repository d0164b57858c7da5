"""Send a realistic, weighted mix of HTTP requests to the example shop running on this machine.

Only loopback hosts (127.0.0.0/8, ::1, localhost) are accepted: this is a demo load generator,
not a tool to aim at other machines. Proxies are bypassed and redirects are not followed, so
no request leaves the loopback interface. Runs for ``--duration`` seconds or ``--requests``
requests, whichever ends first (both 0: until Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import random
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

# (path template, weight): roughly what a small shop sees, plus deliberate trouble.
MIX: tuple[tuple[str, int], ...] = (
    ("products/", 14),
    ("products/{product}/", 18),
    ("products/{product}/cached/", 20),
    ("users/{user}/profile/", 12),
    ("async/products/", 8),
    ("health-of-shop/", 8),
    ("products/n-plus-one/", 6),
    ("slow/", 3),
    ("error/", 2),
    ("products/999999/", 2),  # a known route, a missing product: 404
    ("no-such-page/", 3),  # no route at all: 404
    ("wp-login.php", 1),  # what bots probe for: 404
)
# What seed_shop creates on a fresh database; replaced by the ids the products/ list reports.
DEFAULT_PRODUCT_IDS = tuple(range(1, 61))
USER_IDS = tuple(range(1, 51))
REPORT_EVERY_SECONDS = 10.0
ERROR_BACKOFF_SECONDS = 0.2
USER_AGENT = "example-shop-generate-traffic/1.0"


def ensure_loopback(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash, or raise CommandError if not loopback."""
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise CommandError(f"Invalid --base-url {base_url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CommandError(f"Invalid --base-url {base_url!r}: expected http://HOST[:PORT]")
    if not _is_loopback(parts.hostname):
        raise CommandError(
            f"Refusing to send traffic to {parts.hostname!r}: only loopback hosts "
            "(127.0.0.0/8, ::1, localhost) are allowed."
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name could resolve anywhere


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a 3xx as it is: following it could lead off the loopback interface."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _build_opener() -> urllib.request.OpenerDirector:
    # An empty ProxyHandler ignores HTTP_PROXY and friends: the traffic must stay local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    opener.addheaders = [("User-Agent", USER_AGENT), ("Accept", "application/json")]
    return opener


def fetch(opener: urllib.request.OpenerDirector, url: str, timeout: float) -> tuple[str, bytes]:
    """GET ``url``; return the status ("200", "404", ... or "error") and the body."""
    try:
        with opener.open(url, timeout=timeout) as response:
            return str(response.status), response.read()
    except urllib.error.HTTPError as exc:
        with exc:  # the error carries the open response: read it and close it
            try:
                return str(exc.code), exc.read()
            except (OSError, http.client.HTTPException):
                return str(exc.code), b""
    except (OSError, http.client.HTTPException):
        # Connection refused, reset, timeout, truncated body: counted, never fatal.
        return "error", b""


class Budget:
    """Hands out permission for one more request until the count or the time runs out."""

    def __init__(self, max_requests: int, duration: float, stop: threading.Event) -> None:
        self._lock = threading.Lock()
        self._max = max_requests
        self._deadline = time.monotonic() + duration if duration else None
        self._issued = 0
        self._stop = stop

    def claim(self) -> bool:
        """Return True, and count one request, if another request may be sent."""
        with self._lock:
            if self._stop.is_set():
                return False
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return False
            if self._max and self._issued >= self._max:
                return False
            self._issued += 1
            return True


class Stats:
    """Thread-safe counts of responses by status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, status: str) -> None:
        with self._lock:
            self._counts[status] += 1

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)


def format_counts(counts: Counter[str]) -> str:
    """E.g. "200: 25, 404: 3, 500: 2, error: 1": statuses in order, then errors."""
    keys = sorted(counts, key=lambda k: (not k.isdigit(), k))
    return ", ".join(f"{k}: {counts[k]}" for k in keys) or "none"


def _product_ids(body: bytes) -> tuple[int, ...]:
    try:
        ids = tuple(int(p["id"]) for p in json.loads(body)["products"])
    except (ValueError, KeyError, TypeError):
        return DEFAULT_PRODUCT_IDS
    return ids or DEFAULT_PRODUCT_IDS


class Command(BaseCommand):
    """Generate mixed traffic against a loopback URL and summarise the responses."""

    help = (
        "Send a weighted mix of requests to the example shop on a loopback address, for "
        "--duration seconds or --requests requests (whichever ends first), and print a summary."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--duration", type=float, default=0.0, help="Seconds to run; 0 = no time limit."
        )
        parser.add_argument(
            "--requests", type=int, default=0, help="Requests to send; 0 = no count limit."
        )
        parser.add_argument("--concurrency", type=int, default=4, help="Sending threads.")
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds to wait for one response."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base_url = ensure_loopback(options["base_url"])
        _check_limits(options)
        self.base_url, self.timeout = base_url, options["timeout"]
        self.stats, self.stop = Stats(), threading.Event()
        budget = Budget(options["requests"], options["duration"], self.stop)
        started = time.monotonic()
        threads: list[threading.Thread] = []
        with self._sigterm_stops():
            try:
                product_ids = self._discover(budget)
                threads = self._start(options["concurrency"], budget, product_ids)
                self._wait(threads, started)
            except KeyboardInterrupt:
                self.stop.set()
                self.stdout.write("Interrupted; waiting for the requests in flight.")
                self._drain(threads)
        self._summary(started)

    def _discover(self, budget: Budget) -> tuple[int, ...]:
        # The first request is a normal products/ hit whose answer says which ids exist.
        if not budget.claim():
            return DEFAULT_PRODUCT_IDS
        status, body = fetch(_build_opener(), f"{self.base_url}/products/", self.timeout)
        self.stats.record(status)
        return _product_ids(body) if status == "200" else DEFAULT_PRODUCT_IDS

    def _start(
        self, concurrency: int, budget: Budget, product_ids: tuple[int, ...]
    ) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self._send_until_done,
                args=(budget, product_ids),
                name=f"generate-traffic-{n}",
                daemon=True,  # a second Ctrl-C must never hang on a slow response
            )
            for n in range(concurrency)
        ]
        for thread in threads:
            thread.start()
        return threads

    def _send_until_done(self, budget: Budget, product_ids: tuple[int, ...]) -> None:
        opener, rng = _build_opener(), random.Random()
        templates = [t for t, _ in MIX]
        weights = [w for _, w in MIX]
        while budget.claim():
            template = rng.choices(templates, weights)[0]
            path = template.format(product=rng.choice(product_ids), user=rng.choice(USER_IDS))
            status = fetch(opener, f"{self.base_url}/{path}", self.timeout)[0]
            self.stats.record(status)
            if status == "error":
                # Back off while the server is down instead of spinning; stop still wakes us.
                self.stop.wait(ERROR_BACKOFF_SECONDS)

    def _wait(self, threads: list[threading.Thread], started: float) -> None:
        next_report, last_total = started + REPORT_EVERY_SECONDS, 0
        while alive := [t for t in threads if t.is_alive()]:
            alive[0].join(timeout=0.2)
            if time.monotonic() >= next_report:
                last_total = self._progress(started, last_total)
                next_report += REPORT_EVERY_SECONDS

    def _drain(self, threads: list[threading.Thread]) -> None:
        # Bounded: a thread finishes within one request timeout once stop is set.
        deadline = time.monotonic() + self.timeout + 1
        try:
            for thread in threads:
                thread.join(timeout=max(deadline - time.monotonic(), 0))
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: summarise what finished and leave

    def _progress(self, started: float, last_total: int) -> int:
        counts = self.stats.snapshot()
        total = sum(counts.values())
        rate = (total - last_total) / REPORT_EVERY_SECONDS
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"[{elapsed:4.0f}s] {total} requests ({rate:.1f}/s) | {format_counts(counts)}"
        )
        return total

    def _summary(self, started: float) -> None:
        counts = self.stats.snapshot()
        total = sum(counts.values())
        elapsed = max(time.monotonic() - started, 1e-9)
        self.stdout.write(
            f"Sent {total} requests in {elapsed:.1f} s ({total / elapsed:.1f}/s) | "
            f"by status: {format_counts(counts)}"
        )

    @contextmanager
    def _sigterm_stops(self) -> Iterator[None]:
        """Let SIGTERM (how demo.sh stops us) end the run cleanly, with its summary."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be set from the main thread
            return
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: self.stop.set())
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


def _check_limits(options: dict[str, Any]) -> None:
    if options["concurrency"] < 1:
        raise CommandError("--concurrency must be at least 1.")
    if options["duration"] < 0 or options["requests"] < 0:
        raise CommandError("--duration and --requests must not be negative.")
    if options["timeout"] <= 0:
        raise CommandError("--timeout must be positive.")
