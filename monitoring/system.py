"""Live gauges read at scrape time: host CPU, memory and disk, and connection pools."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import psutil
from django.db import connections
from prometheus_client.core import Metric

from .exposition import counter, gauge
from .recording.safety import internal_error_counts


def pool_usage() -> list[tuple[str, str, float]]:
    """(alias, state, connections) for every database alias with an open pool.

    Django 5.1+ keeps PostgreSQL pools per alias on the backend class; a pool is only
    read, never created, here.
    """
    samples = []
    for alias in connections:
        pools = getattr(type(connections[alias]), "_connection_pools", None) or {}
        pool = pools.get(alias)
        if pool is None:
            continue
        stats = pool.get_stats()
        size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
        samples += [
            (alias, "in_use", float(size - idle)),
            (alias, "idle", float(idle)),
            (alias, "waiting", float(stats.get("requests_waiting", 0))),
            (alias, "max", float(stats.get("pool_max", 0))),
        ]
    return samples


def host_usage(disk_path: str = "/") -> dict[str, float]:
    """CPU, memory and disk use of this host, in percent."""
    return {
        "cpu": float(psutil.cpu_percent(interval=None)),
        "memory": float(psutil.virtual_memory().percent),
        "disk": float(psutil.disk_usage(disk_path).percent),
    }


def site_processes(pattern: str) -> int:
    """How many processes of this host (other than this one) have a command line matching
    ``pattern``: the site's workers and servers."""
    matcher = re.compile(pattern)
    me = os.getpid()
    count = 0
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or ())
        if process.info["pid"] != me and matcher.search(cmdline):
            count += 1
    return count


def host_sample(disk_path: str, pattern: str) -> dict[str, float]:
    """Everything the background service samples on its host."""
    usage = host_usage(disk_path)
    usage["load1"] = float(os.getloadavg()[0])
    usage["site_processes"] = float(site_processes(pattern))
    return usage


def live_families() -> Iterator[Metric]:
    """Gauges and counters that describe this host and process right now."""
    usage = host_usage()
    yield gauge(
        "monitoring_system_cpu_percent", "Host CPU use, percent.", (), [((), usage["cpu"])]
    )
    yield gauge(
        "monitoring_system_memory_percent",
        "Host memory in use, percent.",
        (),
        [((), usage["memory"])],
    )
    yield gauge(
        "monitoring_system_disk_percent",
        "Disk space in use on /, percent.",
        (),
        [((), usage["disk"])],
    )
    yield gauge(
        "django_db_pool_connections",
        "Connections of a database connection pool by state (in_use, idle, waiting, max).",
        ("alias", "state"),
        [((alias, state), value) for alias, state, value in pool_usage()],
    )
    yield counter(
        "monitoring_internal_errors",
        "Errors inside monitoring itself, caught before they reached the site.",
        ("kind",),
        [((kind,), float(n)) for kind, n in sorted(internal_error_counts().items())],
    )
