"""Database instrumentation: an execute wrapper on every connection of every alias.

``connection.execute_wrapper`` sees every statement that goes through Django's cursor,
whoever issues it (views, other middleware, signals, raw ``cursor.execute``). Failures to
obtain a connection happen before any statement, so ``ensure_connection`` is wrapped too.
Each new connection object (one per thread and alias) is instrumented as Django creates it.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler

from .context import current_state
from .hooks import instrument_handler
from .recorder import Recorder
from .safety import report_internal_error

RecorderGetter = Callable[[], Recorder]


class QueryRecorder:
    """The execute wrapper: times each statement and records it under its fingerprint."""

    __slots__ = ("alias", "get_recorder", "vendor")

    def __init__(self, alias: str, vendor: str, get_recorder: RecorderGetter) -> None:
        self.alias = alias
        self.vendor = vendor
        self.get_recorder = get_recorder

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        state = current_state.get()
        if state is not None and state.muted:
            return execute(sql, params, many, context)
        start = perf_counter()
        try:
            return execute(sql, params, many, context)
        except DatabaseError as exc:
            try:
                self.get_recorder().record_db_error(self.alias, type(exc).__name__, state)
            except Exception as internal:
                report_internal_error("database", internal)
            raise
        finally:
            duration = perf_counter() - start
            try:
                self.get_recorder().record_query(self.alias, self.vendor, sql, duration, state)
            except Exception as internal:
                report_internal_error("query", internal)


def connection_failure(exc: BaseException) -> str:
    """Classify a failure to obtain a connection.

    Returns ``pool_exhausted``, ``refused``, ``timeout``, ``too_many`` or ``other``; the
    message is only classified, never stored.
    """
    cause = exc.__cause__ or exc
    names = {type(e).__name__ for e in (exc, cause)}
    text = str(cause).lower()
    if "PoolTimeout" in names or "TooManyRequests" in names:
        return "pool_exhausted"
    if "refused" in text:
        return "refused"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "too many connections" in text or "connection slots" in text:
        return "too_many"
    return "other"


class ConnectionGuard:
    """Replaces ``connection.ensure_connection`` to count failures to connect.

    It looks the method up on the class at each call, so patches applied to the class
    later (test runners block database access that way) still take effect.
    """

    __slots__ = ("connection", "get_recorder")

    def __init__(self, connection: BaseDatabaseWrapper, get_recorder: RecorderGetter) -> None:
        self.connection = connection
        self.get_recorder = get_recorder

    def __call__(self) -> None:
        connection = self.connection
        try:
            type(connection).ensure_connection(connection)
        except Exception as exc:
            state = current_state.get()
            if state is None or not state.muted:
                try:
                    self.get_recorder().record_connection_error(
                        connection.alias, type(exc).__name__, connection_failure(exc), state
                    )
                except Exception as internal:
                    report_internal_error("connection", internal)
            raise


def instrument_connection(connection: BaseDatabaseWrapper, get_recorder: RecorderGetter) -> None:
    """Add the execute wrapper and the connection guard to one connection object."""
    if any(isinstance(w, QueryRecorder) for w in connection.execute_wrappers):
        return
    connection.execute_wrappers.append(
        QueryRecorder(connection.alias, connection.vendor, get_recorder)
    )
    connection.ensure_connection = ConnectionGuard(  # type: ignore[method-assign]
        connection, get_recorder
    )


def install_database_instrumentation(
    handler: ConnectionHandler, get_recorder: RecorderGetter, excluded: Callable[[str], bool]
) -> None:
    """Instrument every connection ``handler`` creates from now on, and those it has."""
    instrument_handler(
        handler, lambda connection, _: instrument_connection(connection, get_recorder), excluded
    )
