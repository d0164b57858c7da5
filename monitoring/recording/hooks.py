"""Instrument each connection object a Django handler (databases, caches) creates.

Django creates one connection object per thread (or async context) and alias, lazily;
wrapping the handler's ``create_connection`` instruments every one of them as it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils.connection import BaseConnectionHandler

from .safety import report_internal_error


def instrument_handler(
    handler: BaseConnectionHandler[Any],
    instrument: Callable[[Any, str], None],
    excluded: Callable[[str], bool],
) -> None:
    """Call ``instrument(obj, alias)`` on every object ``handler`` creates, and those it has.

    Aliases for which ``excluded(alias)`` is true are left alone. Idempotent.
    """
    if getattr(handler, "_monitoring_installed", False):
        return
    original = handler.create_connection

    def create_connection(alias: str) -> Any:
        connection = original(alias)
        try:
            if not excluded(alias):
                instrument(connection, alias)
        except Exception as exc:
            report_internal_error("instrumentation", exc)
        return connection

    handler.create_connection = create_connection  # type: ignore[method-assign]
    handler._monitoring_installed = True  # type: ignore[attr-defined]
    for alias in handler.settings:
        existing = getattr(handler._connections, alias, None)  # type: ignore[attr-defined]
        if existing is not None and not excluded(alias):
            instrument(existing, alias)
