"""post_json, the HTTP layer of the channels, against a real local receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from monitoring.channels.base import DeliveryError
from monitoring.channels.http import parse_retry_after, post_json
from tests.receivers import Receiver
from tests.servers import free_port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def failure(url: str, timeout: float = 2.0) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        post_json(url, {"a": 1}, timeout=timeout, what="hook")
    return caught.value


def test_post_json_sends_one_json_post(receiver: Receiver) -> None:
    status, body = post_json(
        receiver.url, {"x": "é"}, timeout=2, what="hook", headers={"X-Extra": "1"}
    )
    assert (status, body) == (200, b"ok")
    [request] = receiver.wait_for(1)
    assert (request.method, request.path, request.json()) == ("POST", "/hook", {"x": "é"})
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "django-orm-monitoring"
    assert request.headers["X-Extra"] == "1"


def test_credentials_in_the_url_become_basic_auth(receiver: Receiver) -> None:
    post_json(receiver.url.replace("//", "//bot:p%40ss@"), {}, timeout=2, what="hook")
    [request] = receiver.wait_for(1)
    assert request.headers["Authorization"] == "Basic Ym90OnBAc3M="  # bot:p@ss


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_busy_or_broken_answers_are_retried(receiver: Receiver, status: int) -> None:
    receiver.answer((status, {}, b"try later"))
    error = failure(receiver.url)
    assert (error.retry, error.retry_after) == (True, None)
    assert error.reason == f"hook answered HTTP {status}: try later"


def test_retry_after_in_seconds(receiver: Receiver) -> None:
    receiver.answer((503, {"Retry-After": "7"}, b"busy"))
    error = failure(receiver.url)
    assert (error.retry, error.retry_after) == (True, 7.0)


def test_retry_after_as_an_http_date(receiver: Receiver) -> None:
    receiver.answer((429, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}, b""))
    error = failure(receiver.url)
    assert error.retry and error.retry_after is not None and 27 <= error.retry_after <= 30
    assert error.reason == "hook answered HTTP 429"


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 301])
def test_wrong_requests_are_not_retried(receiver: Receiver, status: int) -> None:
    receiver.answer((status, {"Location": "http://127.0.0.1:9/elsewhere"}, b"no_service"))
    error = failure(receiver.url)
    assert (error.retry, error.reason) == (False, f"hook answered HTTP {status}: no_service")
    assert len(receiver.requests) == 1  # a redirect is not followed


def test_long_or_html_error_bodies_become_one_short_line(receiver: Receiver) -> None:
    receiver.answer(
        (400, {}, b"<html><body><h1>Bad\nrequest</h1>" + b"x" * 500 + b"</body></html>"),
    )
    reason = failure(receiver.url).reason
    assert reason.startswith("hook answered HTTP 400: Bad request xxx")
    assert "\n" not in reason and "<" not in reason
    assert reason.endswith("…") and len(reason) < 240


def test_timeout_is_retried(receiver: Receiver) -> None:
    receiver.answer(1.0)
    started = time.monotonic()
    error = failure(receiver.url, timeout=0.3)
    assert time.monotonic() - started < 0.9
    assert (error.retry, error.reason) == (True, "hook: timed out after 0.3 s")


def test_connection_refused_is_retried() -> None:
    error = failure(f"http://127.0.0.1:{free_port()}/hook")
    assert (error.retry, error.reason) == (True, "hook: connection refused")


def test_a_url_that_is_not_http_is_not_retried() -> None:
    error = failure("file:///etc/passwd")
    assert (error.retry, error.reason) == (False, "hook: the URL is not an http(s) URL")
