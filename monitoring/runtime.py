"""The process-wide recorder, store and flusher.

Each process records into its own :class:`~monitoring.recording.recorder.Recorder`; a
daemon thread flushes it to the store every ``FLUSH_INTERVAL`` seconds (and at exit), so
no request ever waits for the store. The recorder and flusher start lazily, and anew in a
child after ``fork`` (gunicorn ``--preload``), so a process never flushes another's data.

When the store cannot be written, the batch stays in memory and is sent again, under the
same batch id, at the next flush; batches older than ``STORE_BACKLOG_SECONDS`` are given
up and their requests counted (``monitoring_store_lost_requests_total``). The outage is
logged once when it starts and once when it ends.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import uuid
from collections import deque

from . import config
from .recording import metrics as m
from .recording.aggregate import Bucket
from .recording.recorder import Recorder
from .recording.safety import report_internal_error
from .stores import BaseStore, store_from_url

logger = logging.getLogger("monitoring.store")

_lock = threading.RLock()
_flush_lock = threading.Lock()
_recorder: Recorder | None = None
_store: BaseStore | None = None
_flusher: Flusher | None = None
# Batches the store has not taken yet, oldest first: (batch id, created at, buckets).
_unsent: deque[tuple[str, float, list[Bucket]]] = deque()
_store_down = False


class Flusher(threading.Thread):
    """Moves the recorder's buckets to the store every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="monitoring-flusher", daemon=True)
        self.interval = interval
        self.stopped = False
        self.woken = threading.Event()

    def run(self) -> None:
        # Workers started together flush at different moments, not all at once.
        self.woken.wait(random.uniform(0, self.interval))
        self.woken.clear()
        while not self.stopped:
            flush()
            self.woken.wait(self.interval)
            self.woken.clear()

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
                _store = store_from_url(
                    settings["STORE_URL"], settings["RETENTION_HOURS"], settings["HOST"]
                )
            store = _store
    return store


def flush() -> None:
    """Write everything recorded so far to the store; never raises."""
    recorder = _recorder
    if recorder is None:
        return
    with _flush_lock:
        try:
            buckets = recorder.drain()
        except Exception as exc:
            report_internal_error("flush", exc)
            return
        if buckets:
            _unsent.append((uuid.uuid4().hex, recorder.clock(), buckets))
        _send_unsent(recorder)


def _send_unsent(recorder: Recorder) -> None:
    global _store_down
    sent = 0
    while _unsent:
        batch_id, _, buckets = _unsent[0]
        try:
            get_store().write(buckets, batch_id=batch_id)
        except Exception as exc:
            recorder.count(m.STORE_WRITE_ERRORS.name)
            if not _store_down:
                _store_down = True
                logger.warning(
                    "monitoring: the metric store cannot be written (%s); keeping up to "
                    "%s s of metrics in memory and retrying every flush",
                    type(exc).__name__,
                    config.get_config()["STORE_BACKLOG_SECONDS"],
                )
            _give_up_old_batches(recorder)
            return
        _unsent.popleft()
        sent += 1
    if _store_down:
        _store_down = False
        logger.warning("monitoring: the metric store is back; %d delayed batches sent", sent)


def _give_up_old_batches(recorder: Recorder) -> None:
    horizon = recorder.clock() - float(config.get_config()["STORE_BACKLOG_SECONDS"])
    while _unsent and _unsent[0][1] < horizon:
        _, _, buckets = _unsent.popleft()
        lost = sum(
            value
            for bucket in buckets
            for (name, _), value in bucket.counters.items()
            if name == m.REQUESTS.name
        )
        if lost:
            recorder.count(m.STORE_LOST_REQUESTS.name, lost)


def reset() -> None:
    """Stop the flusher and forget the recorder and store (configuration changed)."""
    global _recorder, _store, _flusher, _store_down
    with _lock:
        if _flusher is not None:
            _flusher.stop()
        if _store is not None:
            try:
                _store.close()
            except Exception as exc:
                report_internal_error("store", exc)
        _recorder = _store = _flusher = None
        _unsent.clear()
        _store_down = False


def _after_fork_in_child() -> None:
    # The parent's buckets and flusher thread belong to the parent; start afresh.
    global _recorder, _store, _flusher, _lock, _flush_lock, _unsent, _store_down
    _lock = threading.RLock()
    _flush_lock = threading.Lock()
    _recorder = _store = _flusher = None
    _unsent = deque()
    _store_down = False


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush)
config.on_reload(reset)
