"""A stand-in for Slack, PagerDuty or a webhook receiver: a real HTTP server on 127.0.0.1.

It records every request and answers from a script, so that tests can assert on the exact
requests a channel (or the outbox) made and make the other side fail on cue::

    with Receiver() as receiver:
        receiver.answer((503, {"Retry-After": "7"}, b"busy"), 1.0)  # then a 1 s stall
        channel.send(message)
        [request] = receiver.wait_for(1)
        assert request.json()["event_action"] == "trigger"
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class Headers(dict[str, str]):
    """Request headers; names are case-insensitive (stored in lower case)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


@dataclass
class Received:
    """One request as the receiver got it; ``at`` is its ``time.monotonic()``."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server in a thread, on a free port of 127.0.0.1; a context manager.

    Requests to ``path`` are answered with the next scripted answer (see :meth:`answer`),
    or ``default`` when none is left; other paths get a 404.
    """

    def __init__(self, path: str = "/hook", default: Answer = (200, {}, b"ok")) -> None:
        self.path = path
        self.default = default
        self._script: deque[Answer | float] = deque()
        self._requests: list[Received] = []
        self._arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Receiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A handler stalling on purpose (a timeout test) must not hold up stop().
        self._server.daemon_threads = True
        self._server.block_on_close = False
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        # A short poll so that stop() (which waits for the next poll) is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def requests(self) -> list[Received]:
        """Every request so far, in arrival order (a copy)."""
        with self._arrived:
            return list(self._requests)

    def answer(self, *responses: Answer | float) -> None:
        """Queue answers for the next requests, in order.

        An answer is ``(status, headers, body)``; a float means "sleep this many seconds,
        then answer ``default``" (the client has usually given up by then).
        """
        with self._arrived:
            self._script.extend(responses)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The first ``count`` requests, waiting at most ``timeout`` seconds for them.

        Raises ``AssertionError`` when fewer arrived in time.
        """
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} requests within {timeout} s, got {len(self._requests)}"
                )
            return list(self._requests[:count])

    def _record(self, request: Received) -> Answer | float:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()
            if request.path != self.path:
                return (404, {}, b"no such hook")
            return self._script.popleft() if self._script else self.default


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                method=self.command,
                path=self.path,
                headers=Headers({k.lower(): v for k, v in self.headers.items()}),
                body=self.rfile.read(length),
                at=time.monotonic(),
            )
            scripted = receiver._record(request)
            if isinstance(scripted, float | int):
                time.sleep(scripted)
                scripted = receiver.default
            status, headers, body = scripted
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (a timeout test): nobody is left to answer

        do_POST = do_PUT = do_GET = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
