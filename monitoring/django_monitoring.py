"""The middleware named in the wire-up.

Any one of these classes records requests, queries and cache operations; the first of
them in ``MIDDLEWARE`` does the work and the others step out of the chain at start-up
(``MiddlewareNotUsed``), so the documented pair costs one layer, not two. With the
documented wire-up that is ``QueryMonitoringMiddleware``. Put ``RequestTimingMiddleware``
first in ``MIDDLEWARE`` to time the whole middleware stack as well. Every class works
under WSGI and ASGI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import Token
from time import perf_counter
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from .exclusions import is_excluded
from .recording.context import MUTED, RequestState, current_state
from .recording.safety import report_internal_error
from .runtime import get_recorder

Opened = tuple[RequestState, Token[RequestState | None]] | None


class _RecordingMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        if not _first_in_middleware(type(self)):
            raise MiddlewareNotUsed("an earlier monitoring middleware records the requests")
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        # _open() and _close(), written out: this runs for every request of the site.
        if current_state.get() is not None:
            return self.get_response(request)
        try:
            state = MUTED if is_excluded(request.path_info) else RequestState(request)
            token = current_state.set(state)
        except Exception as exc:
            report_internal_error("request", exc)
            return self.get_response(request)
        start = perf_counter()
        response = None
        try:
            response = self.get_response(request)
            return response
        finally:
            duration = perf_counter() - start
            current_state.reset(token)
            if not state.muted:
                try:
                    status = response.status_code if response is not None else 500
                    get_recorder().record_request(state, request.method or "", status, duration)
                except Exception as exc:
                    report_internal_error("request", exc)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        opened = _open(request)
        if opened is None:
            return await get_response(request)
        start = perf_counter()
        response = None
        try:
            response = await get_response(request)
            return response
        finally:
            _close(opened, request, response, start)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        state = current_state.get()
        if state is not None and not state.muted:
            state.exception = type(exception).__name__


def _first_in_middleware(cls: type) -> bool:
    """True unless another monitoring middleware comes before ``cls`` in MIDDLEWARE."""
    for path in settings.MIDDLEWARE:
        if not path.startswith("monitoring."):
            continue
        try:
            found = import_string(path)
        except ImportError:
            continue
        if isinstance(found, type) and issubclass(found, _RecordingMiddleware):
            return found is cls
    return True


def _open(request: HttpRequest) -> Opened:
    """Start recording ``request`` unless an outer monitoring middleware already did."""
    try:
        if current_state.get() is not None:
            return None
        state = MUTED if is_excluded(request.path_info) else RequestState(request)
        return state, current_state.set(state)
    except Exception as exc:
        report_internal_error("request", exc)
        return None


def _close(
    opened: tuple[RequestState, Token[RequestState | None]],
    request: HttpRequest,
    response: HttpResponseBase | None,
    start: float,
) -> None:
    duration = perf_counter() - start
    state, token = opened
    try:
        current_state.reset(token)
        if state.muted:
            return
        status = response.status_code if response is not None else 500
        get_recorder().record_request(state, request.method or "", status, duration)
    except Exception as exc:
        report_internal_error("request", exc)


class QueryMonitoringMiddleware(_RecordingMiddleware):
    """Records requests and the ORM queries they issue (part of the standard wire-up)."""


class CacheMonitoringMiddleware(_RecordingMiddleware):
    """Records requests and the cache operations they issue (part of the standard wire-up)."""


class RequestTimingMiddleware(_RecordingMiddleware):
    """Optional: place first in ``MIDDLEWARE`` to time the whole middleware stack."""
