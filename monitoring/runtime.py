"""The process-wide recorder, store and flusher.

Each process records into its own :class:`~monitoring.recording.recorder.Recorder`; a
daemon thread flushes it to the store every ``FLUSH_INTERVAL`` seconds (and at exit), so
no request ever waits for the store. The recorder and flusher start lazily, and anew in a
child after ``fork`` (gunicorn ``--preload``), so a process never flushes another's data.
"""

from __future__ import annotations

import atexit
import os
import threading

from . import config
from .recording.recorder import Recorder
from .recording.safety import report_internal_error
from .stores import BaseStore, store_from_url

_lock = threading.RLock()
_recorder: Recorder | None = None
_store: BaseStore | None = None
_flusher: Flusher | None = None


class Flusher(threading.Thread):
    """Moves the recorder's buckets to the store every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="monitoring-flusher", daemon=True)
        self.interval = interval
        self.stopped = False
        self.woken = threading.Event()

    def run(self) -> None:
        while True:
            self.woken.wait(self.interval)
            self.woken.clear()
            if self.stopped:
                return
            flush()

    def wake(self) -> None:
        """Flush now rather than at the next interval (a large backlog is pending)."""
        self.woken.set()

    def stop(self) -> None:
        self.stopped = True
        self.woken.set()


def get_recorder() -> Recorder:
    """Return this process's recorder, starting it (and the flusher) on first use."""
    recorder = _recorder
    if recorder is None:
        recorder = _start()
    return recorder


def _start() -> Recorder:
    global _recorder, _flusher
    with _lock:
        if _recorder is None:
            settings = config.get_config()
            _flusher = Flusher(float(settings["FLUSH_INTERVAL"]))
            recorder = Recorder(settings)
            recorder.on_backlog = _flusher.wake
            _flusher.start()
            _recorder = recorder
        return _recorder


def get_store() -> BaseStore:
    """Return this process's connection to the configured store."""
    global _store
    store = _store
    if store is None:
        with _lock:
            if _store is None:
                settings = config.get_config()
                _store = store_from_url(settings["STORE_URL"], settings["RETENTION_HOURS"])
            store = _store
    return store


def flush() -> None:
    """Write everything recorded so far to the store; never raises."""
    recorder = _recorder
    if recorder is None:
        return
    try:
        buckets = recorder.drain()
        if buckets:
            get_store().write(buckets)
    except Exception as exc:
        report_internal_error("flush", exc)


def reset() -> None:
    """Stop the flusher and forget the recorder and store (configuration changed)."""
    global _recorder, _store, _flusher
    with _lock:
        if _flusher is not None:
            _flusher.stop()
        if _store is not None:
            try:
                _store.close()
            except Exception as exc:
                report_internal_error("store", exc)
        _recorder = _store = _flusher = None


def _after_fork_in_child() -> None:
    # The parent's buckets and flusher thread belong to the parent; start afresh.
    global _recorder, _store, _flusher, _lock
    _lock = threading.RLock()
    _recorder = _store = _flusher = None


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush)
config.on_reload(reset)
