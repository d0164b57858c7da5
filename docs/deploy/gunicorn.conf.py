"""gunicorn settings for the site's web workers, with what monitoring needs.

    gunicorn -c docs/deploy/gunicorn.conf.py shop.wsgi

Each worker records into its own memory and flushes to the shared store every
FLUSH_INTERVAL seconds (10), so Prometheus and the alert rules see the whole fleet.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
timeout = 30
# A worker stopping gracefully flushes what it recorded (worker_exit below), so its last
# requests are counted; leave graceful_timeout room for that flush.
graceful_timeout = 30
# Recycling workers is safe: the store keeps each host's totals, so Prometheus counters
# stay monotonic however many workers come and go.
max_requests = 10000
max_requests_jitter = 1000
# Preloading is safe too: the flusher starts anew in each worker after the fork.
preload_app = True
# Requests to the monitoring endpoints are not recorded; keep gunicorn's access log on.
accesslog = "-"


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    """Flush this worker's last records to the store before it goes."""
    from monitoring import runtime

    runtime.flush()
