"""Health checks behind ``health/`` and ``readyz/``: databases, caches, disk, memory, the
metric store, the background service, and any check of the site's own.

A check is a callable taking no argument. It passes by returning (``None``, or a short
text saying what it saw), is degraded by raising :class:`Degraded`, and fails by raising
anything else. Add checks of your own with ``MONITORING['HEALTH_CHECKS']``: dotted paths,
each naming a check (its name in the response is the function's name) or a *provider*
marked with :func:`provider`, which returns ``{name: check}`` (how the built-in database
and cache checks cover every alias).

Every check runs in a small pool of threads kept for the purpose, with a deadline of
``HEALTH_CHECK_TIMEOUT`` seconds: a hung database gives ``error`` within that time, never a
hung probe. The database checks borrow the request's own connections (no connection is
opened for a probe that the request would not have opened anyway); checks run muted, so
their queries and cache operations are never counted as the site's. A check still
running from an earlier probe is not started again; it is reported as failing until it
returns.

Failures of checks marked non-critical (disk and memory usage, the metric store, the
background service) make the whole status ``degraded`` rather than ``error``: a load
balancer should not take a site out of rotation because its monitoring is unwell.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psutil
from django.core.cache import caches
from django.db import connections
from django.utils.module_loading import import_string

from . import config, runtime
from .recording.context import muted

Check = Callable[[], "str | None"]

OK, DEGRADED, ERROR = "ok", "degraded", "error"
_ORDER = {OK: 0, DEGRADED: 1, ERROR: 2}
SERVICE_NAME = "run_monitoring"


class Degraded(Exception):
    """Raised by a check whose subject works, but not as it should."""


def provider(function: Callable[[], dict[str, Check]]) -> Callable[[], dict[str, Check]]:
    """Mark ``function`` as returning several named checks rather than being one."""
    function.provides_checks = True  # type: ignore[attr-defined]
    return function


def noncritical(check: Check) -> Check:
    """Mark ``check``: its failure degrades the site's health instead of failing it."""
    check.critical = False  # type: ignore[attr-defined]
    return check


# -- the built-in checks ---------------------------------------------------------------------


def _database(alias: str) -> Check:
    """``SELECT 1`` on the calling thread's own connection to ``alias`` (the request's),
    lent to the check's thread for the duration. A check that misses its deadline keeps
    that connection, and the request's thread gets a new one next time, so that nothing
    the request does afterwards can wait on a hung server."""
    connection = connections[alias]
    abandoned = threading.Event()

    def check() -> str | None:
        connection.inc_thread_sharing()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        finally:
            if abandoned.is_set():
                connection.close()
            connection.dec_thread_sharing()
        return None

    def on_timeout() -> None:
        abandoned.set()
        del connections[alias]  # this thread's next use of the alias opens a new connection

    check.on_timeout = on_timeout  # type: ignore[attr-defined]
    return check


@provider
def database_checks() -> dict[str, Check]:
    """``SELECT 1`` on every database alias (or those of ``HEALTH_DATABASES``)."""
    aliases = config.get_config()["HEALTH_DATABASES"]
    return {f"database:{alias}": _database(alias) for alias in aliases or connections}


def _cache(alias: str) -> Check:
    def check() -> str | None:
        cache = caches[alias]
        key = f"monitoring:health:{uuid.uuid4().hex}"
        value = uuid.uuid4().hex
        cache.set(key, value, 30)
        try:
            if cache.get(key) != value:
                raise RuntimeError("a value just written could not be read back")
        finally:
            cache.delete(key)
        return None

    return check


@provider
def cache_checks() -> dict[str, Check]:
    """Set, get and delete a private key on every cache alias."""
    from django.conf import settings

    return {f"cache:{alias}": _cache(alias) for alias in settings.CACHES}


def _usage(what: str, percent: float, thresholds: list[float]) -> str:
    degraded_at, error_at = thresholds
    text = f"{what} {percent:.1f}% used"
    if percent >= error_at:
        raise RuntimeError(text)
    if percent >= degraded_at:
        raise Degraded(text)
    return text


@noncritical
def disk() -> str | None:
    """Disk space in use on ``HEALTH_DISK_PATH``, against ``HEALTH_DISK_THRESHOLDS``."""
    settings = config.get_config()
    usage = psutil.disk_usage(settings["HEALTH_DISK_PATH"])
    return _usage("disk", usage.percent, settings["HEALTH_DISK_THRESHOLDS"])


@noncritical
def memory() -> str | None:
    """Memory in use on this host, against ``HEALTH_MEMORY_THRESHOLDS``."""
    percent = psutil.virtual_memory().percent
    return _usage("memory", percent, config.get_config()["HEALTH_MEMORY_THRESHOLDS"])


@noncritical
def metric_store() -> str | None:
    """The metric store answers."""
    runtime.get_store().ping()
    return None


@noncritical
def background_service() -> str | None:
    """``run_monitoring`` completed a cycle within the last 3 collection intervals."""
    store = runtime.get_store()
    last = store.last_beat(SERVICE_NAME)
    limit = 3 * float(config.get_config()["COLLECTION_INTERVAL"])
    if last is None:
        raise Degraded("the background service has never run (python manage.py run_monitoring)")
    age = store.clock() - last
    if age > limit:
        raise Degraded(f"the background service last completed a cycle {age:.0f} s ago")
    return None


BUILT_IN = (
    "monitoring.health.database_checks",
    "monitoring.health.cache_checks",
    "monitoring.health.disk",
    "monitoring.health.memory",
    "monitoring.health.metric_store",
    "monitoring.health.background_service",
)


# -- running them ------------------------------------------------------------------------------


@dataclass
class Result:
    """What one check found."""

    status: str
    duration_ms: float
    message: str = ""
    critical: bool = True

    def as_dict(self, with_message: bool) -> dict[str, Any]:
        found: dict[str, Any] = {"status": self.status, "duration_ms": self.duration_ms}
        if with_message and self.message:
            found["message"] = self.message
        return found


@lru_cache(maxsize=1)
def _targets() -> tuple[Any, ...]:
    paths = [*BUILT_IN, *config.get_config()["HEALTH_CHECKS"]]
    return tuple(import_string(path) for path in paths)


def all_checks() -> dict[str, Check]:
    """Every check by name: the built-in ones, then ``HEALTH_CHECKS``."""
    checks: dict[str, Check] = {}
    for target in _targets():
        if getattr(target, "provides_checks", False):
            checks.update(target())
        else:
            checks[target.__name__] = target
    return checks


_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="monitoring-health")
_running: dict[str, Future[Result]] = {}
_running_lock = threading.Lock()


def _run(check: Check) -> Result:
    started = time.perf_counter()
    critical = getattr(check, "critical", True)
    try:
        with muted():
            message = check() or ""
        status = OK
    except Degraded as exc:
        status, message = DEGRADED, str(exc)
    except Exception as exc:
        status, message = ERROR, f"{type(exc).__name__}: {exc}"
    duration = round((time.perf_counter() - started) * 1000, 3)
    return Result(status, duration, message, critical)


def run_checks(checks: dict[str, Check], timeout: float | None = None) -> dict[str, Result]:
    """Run ``checks`` at once, each given ``timeout`` seconds; never raises, never hangs."""
    if timeout is None:
        timeout = float(config.get_config()["HEALTH_CHECK_TIMEOUT"])
    started = time.perf_counter()
    futures: dict[str, Future[Result] | None] = {}
    with _running_lock:
        for name, check in checks.items():
            previous = _running.get(name)
            if previous is not None and not previous.done():
                futures[name] = None  # still hung from an earlier probe
                continue
            futures[name] = _running[name] = _pool.submit(_run, check)
    results = {}
    for name, future in futures.items():
        critical = getattr(checks[name], "critical", True)
        if future is None:
            results[name] = Result(
                ERROR, 0.0, "an earlier run of this check has not returned", critical
            )
            continue
        remaining = max(0.0, timeout - (time.perf_counter() - started))
        try:
            results[name] = future.result(timeout=remaining)
        except FutureTimeout:
            on_timeout = getattr(checks[name], "on_timeout", None)
            if on_timeout is not None:
                on_timeout()
            waited = round((time.perf_counter() - started) * 1000, 3)
            results[name] = Result(ERROR, waited, f"no answer within {timeout:g} s", critical)
    return results


def overall(results: Iterable[Result]) -> str:
    """The site's status: the worst result, a non-critical failure counting as degraded."""
    worst = OK
    for result in results:
        status = result.status
        if status == ERROR and not result.critical:
            status = DEGRADED
        if _ORDER[status] > _ORDER[worst]:
            worst = status
    return worst


def report(results: dict[str, Result], with_messages: bool) -> dict[str, Any]:
    """The JSON document of ``health/`` and ``readyz/``."""
    return {
        "status": overall(results.values()),
        "checks": {name: result.as_dict(with_messages) for name, result in results.items()},
    }


def readiness_checks() -> dict[str, Check]:
    """What ``readyz/`` asks: the default database and the default cache."""
    from django.db import DEFAULT_DB_ALIAS

    return {"database:default": _database(DEFAULT_DB_ALIAS), "cache:default": _cache("default")}


config.on_reload(_targets.cache_clear)
