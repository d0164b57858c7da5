"""One process writing batches to a store, for the concurrent-writers test.

``python -m tests.fleet_writer STORE_URL HOST BATCHES GO_FILE``: waits until ``GO_FILE``
exists (so that every writer starts at once), then writes ``BATCHES`` batches and exits
non-zero on the first error.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.fleet_settings")
django.setup()

from monitoring.recording import metrics as m  # noqa: E402
from monitoring.recording.aggregate import Bucket, Histogram  # noqa: E402
from monitoring.stores import store_from_url  # noqa: E402

ROUTES = [f"/r{i}/" for i in range(10)]


def batch(i: int, now: float) -> list[Bucket]:
    """One request on each route, 1 ms slower per batch number."""
    bucket = Bucket(int(now) - int(now) % 10, 10)
    for route in ROUTES:
        bucket.counters[(m.REQUESTS.name, ("GET", route, "200"))] = 1
        hist = Histogram((0.01, 0.1, 1.0), 0.01)
        hist.observe(0.001 * (i + 1))
        bucket.histograms[(m.REQUEST_DURATION.name, ("GET", route))] = hist
    return [bucket]


def main() -> None:
    url, host, batches, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = store_from_url(url, retention_hours=24, host=host)
    deadline = time.monotonic() + 60
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(batches):
        store.write(batch(i, time.time()))
    store.close()


if __name__ == "__main__":
    main()
