"""Per-request recording state, carried in a context variable.

A context variable (not a thread local) keeps concurrent async requests apart, and
``sync_to_async`` copies it into the thread that runs a sync view, so the query and cache
wrappers always find the state of the request they belong to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .metrics import UNMATCHED_ROUTE


class RequestState:
    """What one request has done so far.

    ``events`` holds the request's queries and cache operations as plain tuples, in the
    order they happened; they are aggregated after the response, off the request's time.
    """

    __slots__ = ("events", "exception", "muted", "queries", "request")

    def __init__(self, request: Any = None, muted: bool = False) -> None:
        self.request = request
        self.muted = muted
        self.queries = 0
        self.events: list[tuple[Any, ...]] = []
        self.exception: str | None = None

    @property
    def route(self) -> str:
        return route_of(self.request)


MUTED = RequestState(muted=True)

current_state: ContextVar[RequestState | None] = ContextVar("monitoring_request", default=None)


def route_of(request: Any) -> str:
    """Return the URL pattern that served ``request`` (``/items/<int:pk>/``), never the path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    route = match.route or ""
    return route if route.startswith(("/", "^")) else "/" + route


@contextmanager
def muted() -> Iterator[None]:
    """Do not record queries or cache operations made inside this block.

    Monitoring's own database and cache work runs inside it, so it never counts as the
    site's.
    """
    token = current_state.set(MUTED)
    try:
        yield
    finally:
        current_state.reset(token)
