"""Stores: where flushed metric buckets live. ``get_store`` picks one by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import BaseStore
from .database import DatabaseStore
from .memory import MemoryStore
from .redis import RedisStore

SCHEMES: dict[str, type[BaseStore]] = {
    "memory": MemoryStore,
    "database": DatabaseStore,
    "redis": RedisStore,
    "rediss": RedisStore,
}


def store_from_url(url: str, retention_hours: float, host: str | None = None) -> BaseStore:
    """Return a new store for ``url``: ``memory://``, ``database://[ALIAS]``, ``redis://...``.

    ``host`` names this machine's cumulative totals (default: the host name).
    """
    scheme = urlsplit(url).scheme
    try:
        store_class = SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown store URL scheme {scheme!r}") from None
    return store_class.from_url(url, retention_hours=retention_hours, host=host)


__all__ = ["BaseStore", "DatabaseStore", "MemoryStore", "RedisStore", "store_from_url"]
