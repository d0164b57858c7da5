"""Stores: where flushed metric buckets live. ``get_store`` picks one by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import BaseStore
from .memory import MemoryStore

SCHEMES: dict[str, type[BaseStore]] = {"memory": MemoryStore}


def store_from_url(url: str, retention_hours: float) -> BaseStore:
    """Return a new store for ``url`` (e.g. ``memory://``)."""
    scheme = urlsplit(url).scheme
    try:
        store_class = SCHEMES[scheme]
    except KeyError:
        raise ValueError(f"unknown store URL scheme {scheme!r}") from None
    return store_class.from_url(url, retention_hours=retention_hours)


__all__ = ["BaseStore", "MemoryStore", "store_from_url"]
