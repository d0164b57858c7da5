"""The process-wide recorder and flusher: forks, exits and the flush schedule."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from monitoring import runtime
from monitoring.recording import metrics as m
from monitoring.recording.context import RequestState
from tests.servers import REDIS_STORE_URL, redis_prefix

REPO = Path(__file__).resolve().parent.parent


def record_requests(n: int) -> None:
    for _ in range(n):
        runtime.get_recorder().record_request(RequestState(), "GET", 200, 0.01)


def test_a_forked_child_never_flushes_its_parents_records(settings: Any) -> None:
    with redis_prefix() as prefix:
        settings.MONITORING = {"STORE_URL": f"{REDIS_STORE_URL}?prefix={prefix}"}
        record_requests(3)  # recorded by the parent, not flushed yet
        pid = os.fork()
        if pid == 0:  # the child: one request of its own, flushed, then gone
            code = 1
            try:
                record_requests(1)
                runtime.flush()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        runtime.flush()
        assert runtime.get_store().read_window(300).total(m.REQUESTS) == 4


def test_a_process_flushes_what_it_recorded_when_it_exits() -> None:
    with redis_prefix() as prefix:
        url = f"{REDIS_STORE_URL}?prefix={prefix}"
        script = textwrap.dedent(
            """
            import django
            django.setup()
            from monitoring import runtime
            from monitoring.recording.context import RequestState
            for _ in range(5):
                runtime.get_recorder().record_request(RequestState(), "GET", 200, 0.01)
            """
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example")]),
            "MONITORING_STORE_URL": url,
        }
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
        from monitoring.stores import store_from_url

        store = store_from_url(url, 24)
        assert store.read_window(300).total(m.REQUESTS) == 5
        store.close()


def test_the_flusher_writes_on_its_own(settings: Any) -> None:
    with redis_prefix() as prefix:
        settings.MONITORING = {
            "STORE_URL": f"{REDIS_STORE_URL}?prefix={prefix}",
            "FLUSH_INTERVAL": 0.05,
        }
        record_requests(2)
        store = runtime.get_store()
        deadline = 200  # x 0.05 s
        while store.read_window(300).total(m.REQUESTS) < 2 and deadline:
            deadline -= 1
            runtime._flusher.woken.wait(0.05)  # type: ignore[union-attr]
        assert store.read_window(300).total(m.REQUESTS) == 2
