"""Which configuration (plain, ours, prom) the views of the benchmark talk to.

:func:`use_config` sets the database alias every ORM read and write goes to (through
:class:`ConfigRouter`) and points ``caches["default"]`` -- what the views' module-level
``django.core.cache.cache`` resolves on every call -- at that configuration's cache object.
Both are per-context (a context variable, and an asgiref ``Local``), so they hold for the
requests the harness then drives synchronously in the same thread.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

current_config: ContextVar[str] = ContextVar("bench_config", default="default")


class ConfigRouter:
    """Routes every query to the current configuration's database alias."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return current_config.get()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return current_config.get()

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # All aliases share one SQLite file: migrating "default" creates every table.
        return db == "default"


def use_config(name: str) -> None:
    """Send the ORM and ``django.core.cache.cache`` to configuration ``name`` from now on."""
    from django.core.cache import caches

    current_config.set(name)
    caches._connections.default = caches[name]  # type: ignore[attr-defined]
