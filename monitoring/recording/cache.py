"""Cache instrumentation: every operation on every configured cache alias.

Each cache object Django creates (one per thread and alias) gets its public methods
wrapped. Only the outermost operation is timed: ``BaseCache.get_or_set`` calling ``get``
and ``add`` is one ``get_or_set``. Reads are counted as hits or misses by key prefix;
``get`` asks the backend with a private sentinel, so a cached ``None`` is still a hit.
Values are never looked at beyond that comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from time import perf_counter
from typing import Any

from django.core.cache import CacheHandler
from django.core.cache.backends.base import BaseCache

from .context import current_state
from .hooks import instrument_handler
from .recorder import Recorder
from .safety import report_internal_error

RecorderGetter = Callable[[], Recorder]

OPERATIONS = (
    "get",
    "get_many",
    "get_or_set",
    "set",
    "add",
    "delete",
    "touch",
    "incr",
    "decr",
    "set_many",
    "delete_many",
    "has_key",
    "clear",
    "incr_version",
    "decr_version",
)
# Operations whose first nested ``get`` is the read that decides hit or miss.
READ_THROUGH = frozenset(("get", "get_or_set"))

_MISSING = object()


class _Frame:
    __slots__ = ("count_reads", "excluded", "reads")

    def __init__(self, count_reads: bool) -> None:
        self.count_reads = count_reads
        self.reads = 0
        # Seconds spent in a get_or_set default callable: the site's time, not the cache's.
        self.excluded = 0.0


_frame: ContextVar[_Frame | None] = ContextVar("monitoring_cache_frame", default=None)


class CacheInstrument:
    """Wraps the methods of one cache object; ``alias`` is its label."""

    def __init__(self, cache: BaseCache, alias: str, get_recorder: RecorderGetter) -> None:
        self.cache = cache
        self.alias = alias
        self.get_recorder = get_recorder

    def install(self) -> None:
        cache = self.cache
        for name in OPERATIONS:
            original = getattr(cache, name, None)
            if original is None:
                continue
            if name == "get":
                setattr(cache, name, partial(self.get, original))
            elif name == "get_many":
                setattr(cache, name, partial(self.get_many, original))
            else:
                setattr(cache, name, partial(self.operation, name, original))
            async_original = getattr(cache, "a" + name, None)
            if async_original is not None:
                setattr(cache, "a" + name, partial(self.async_operation, name, async_original))
        cache._monitoring_instrumented = True  # type: ignore[attr-defined]

    # -- recording helpers ----------------------------------------------------------------

    def _timed(self, operation: str, start: float, frame: _Frame, state: Any) -> None:
        try:
            self.get_recorder().record_cache_operation(
                self.alias, operation, perf_counter() - start - frame.excluded, state
            )
        except Exception as exc:
            report_internal_error("cache", exc)

    def _read(self, key: Any, hit: bool, count: int = 1) -> None:
        try:
            self.get_recorder().record_cache_read(
                self.alias, str(key), hit, current_state.get(), count
            )
        except Exception as exc:
            report_internal_error("cache", exc)

    def _read_many(self, keys: list[Any], found: Any) -> None:
        try:
            for key in keys:
                self._read(key, key in found)
        except Exception as exc:
            report_internal_error("cache", exc)

    # -- wrappers -------------------------------------------------------------------------

    def get(
        self, original: Callable[..., Any], key: Any, default: Any = None, version: Any = None
    ) -> Any:
        parent = _frame.get()
        state = current_state.get()
        if parent is not None or (state is not None and state.muted):
            value = original(key, _MISSING, version=version)
            if parent is not None:
                if parent.count_reads and parent.reads == 0:
                    self._read(key, value is not _MISSING)
                parent.reads += 1
            return default if value is _MISSING else value
        token = _frame.set(_Frame(count_reads=False))
        start = perf_counter()
        try:
            value = original(key, _MISSING, version=version)
        finally:
            duration = perf_counter() - start
            _frame.reset(token)
        try:
            self.get_recorder().record_cache_get(
                self.alias, str(key), value is not _MISSING, duration, state
            )
        except Exception as exc:
            report_internal_error("cache", exc)
        return default if value is _MISSING else value

    def get_many(self, original: Callable[..., Any], keys: Any, version: Any = None) -> Any:
        state = current_state.get()
        if _frame.get() is not None or (state is not None and state.muted):
            return original(keys, version=version)
        keys = list(keys)
        frame = _Frame(count_reads=False)
        token = _frame.set(frame)
        start = perf_counter()
        try:
            found = original(keys, version=version)
        finally:
            _frame.reset(token)
            self._timed("get_many", start, frame, state)
        self._read_many(keys, found)
        return found

    def operation(self, name: str, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        state = current_state.get()
        if _frame.get() is not None or (state is not None and state.muted):
            return original(*args, **kwargs)
        frame = _Frame(count_reads=name in READ_THROUGH)
        if name == "get_or_set":
            args, kwargs = _default_outside(frame, args, kwargs)
        token = _frame.set(frame)
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _frame.reset(token)
            self._timed(name, start, frame, state)

    async def async_operation(
        self, name: str, original: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        state = current_state.get()
        if _frame.get() is not None or (state is not None and state.muted):
            return await original(*args, **kwargs)
        frame = _Frame(count_reads=name in READ_THROUGH)
        if name == "get_many":
            args, kwargs = _listed(args, kwargs, "keys")
        elif name == "get_or_set":
            args, kwargs = _default_outside(frame, args, kwargs)
        token = _frame.set(frame)
        start = perf_counter()
        try:
            result = await original(*args, **kwargs)
        finally:
            _frame.reset(token)
            self._timed(name, start, frame, state)
        if name == "get_many":
            self._read_many(args[0] if args else kwargs["keys"], result)
        return result


Arguments = tuple[tuple[Any, ...], dict[str, Any]]


def _listed(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Arguments:
    """Turn the first argument (or keyword ``name``) into a list, so it can be read twice."""
    if args:
        return (list(args[0]), *args[1:]), kwargs
    if name in kwargs:
        return args, {**kwargs, name: list(kwargs[name])}
    return args, kwargs


def _default_outside(frame: _Frame, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Arguments:
    """Run a callable ``get_or_set`` default as the site's own code.

    Cache operations inside it are recorded as operations of their own, and the time it
    takes is not counted as the cache's.
    """
    if len(args) > 1:
        default, where = args[1], "args"
    elif "default" in kwargs:
        default, where = kwargs["default"], "kwargs"
    else:
        return args, kwargs
    if not callable(default):
        return args, kwargs

    def compute() -> Any:
        token = _frame.set(None)
        start = perf_counter()
        try:
            return default()
        finally:
            frame.excluded += perf_counter() - start
            _frame.reset(token)

    if where == "args":
        return (args[0], compute, *args[2:]), kwargs
    return args, {**kwargs, "default": compute}


def instrument_cache(cache: BaseCache, alias: str, get_recorder: RecorderGetter) -> None:
    """Wrap the operations of one cache object (idempotent)."""
    if getattr(cache, "_monitoring_instrumented", False):
        return
    CacheInstrument(cache, alias, get_recorder).install()


def install_cache_instrumentation(
    handler: CacheHandler, get_recorder: RecorderGetter, excluded: Callable[[str], bool]
) -> None:
    """Instrument every cache object ``handler`` creates from now on, and those it has."""
    instrument_handler(
        handler, lambda cache, alias: instrument_cache(cache, alias, get_recorder), excluded
    )
