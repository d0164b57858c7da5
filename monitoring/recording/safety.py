"""The one guard between monitoring and the host site.

Every piece of recording calls :func:`report_internal_error` from its own ``except``
clause: an internal failure is counted (exposed as
``monitoring_internal_errors_total``), logged at most once a minute per kind, and never
raised into the request.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

logger = logging.getLogger("monitoring")

LOG_INTERVAL_SECONDS = 60.0

_lock = threading.Lock()
_counts: dict[str, int] = {}
_last_logged: dict[str, float] = {}


def report_internal_error(kind: str, exc: BaseException) -> None:
    """Count an internal error of ``kind`` and log it unless one was logged this minute."""
    now = time.monotonic()
    with _lock:
        _counts[kind] = _counts.get(kind, 0) + 1
        last = _last_logged.get(kind)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            return
        _last_logged[kind] = now
        suppressed = _counts[kind]
    # A broken logging set-up must not hurt the site either.
    with contextlib.suppress(Exception):
        logger.warning(
            "monitoring: internal error in %s (%s); the request was not affected. "
            "Errors of this kind are counted and logged at most once a minute "
            "(%d so far).",
            kind,
            type(exc).__name__,
            suppressed,
            exc_info=exc,
        )


def internal_error_counts() -> dict[str, int]:
    """Return a copy of the internal error counts by kind since the process started."""
    with _lock:
        return dict(_counts)
