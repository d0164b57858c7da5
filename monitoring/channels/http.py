"""One JSON POST to a channel's HTTP API, with every failure turned into a DeliveryError.

The HTTP channels (Slack, PagerDuty, the webhook) share :func:`post_json`: it sends once,
returns the status and body of a 2xx answer, and otherwise raises
:class:`~monitoring.channels.base.DeliveryError` saying whether a retry could help. Its
``reason`` is built from the status and a snippet of the answer, never from the URL or the
headers, because webhook URLs and routing keys are secrets.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .base import DeliveryError

logger = logging.getLogger(__name__)

USER_AGENT = "django-orm-monitoring"

# Statuses worth retrying: the request was fine, the other side was busy or broken.
RETRY_STATUSES = frozenset({408, 425, 429})
# Bytes of an answer read at most: enough for any API's error text, bounded for the rest.
MAX_BODY = 64 * 1024
SNIPPET_CHARS = 200


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would replay a redirected POST as a bodiless GET; an API that redirects its
    # webhook is misconfigured, so the 3xx is reported (not retried) instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post_json(
    url: str,
    payload: Any,
    *,
    timeout: float,
    what: str,
    headers: dict[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> tuple[int, bytes]:
    """POST ``payload`` as JSON to ``url`` once; return ``(status, body)`` of a 2xx answer.

    ``what`` names the other side in error reasons ("slack answered HTTP 404: no_service").
    Credentials in the URL (``https://user:password@host/``) are sent as Basic auth.
    ``secrets`` (e.g. a routing key) are, like the URL and header values, blanked out of
    any answer quoted in a reason. Raises :class:`DeliveryError`::

        >>> post_json("http://127.0.0.1:9/", {}, timeout=1, what="hook")
        Traceback (most recent call last):
        DeliveryError: hook: connection refused
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"{what}: the URL is not an http(s) URL", retry=False)
    url, all_headers = _split_credentials(url, headers or {})
    hidden = _secrets(url, all_headers, secrets)
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    started = time.monotonic()
    try:
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **all_headers},
        )
        with _opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(MAX_BODY)
    except urllib.error.HTTPError as exc:
        error = _http_error(exc, what, hidden)
    except (OSError, http.client.HTTPException) as exc:
        error = _network_error(exc, what, timeout)
    except ValueError:
        # http.client.InvalidURL and friends quote the URL, so their text is dropped.
        error = DeliveryError(f"{what}: the URL is not valid", retry=False)
    else:
        logger.debug("%s answered HTTP %s in %.3f s", what, status, time.monotonic() - started)
        return status, body
    logger.debug("%s: delivery failed: %s", what, error.reason)
    raise error


def _split_credentials(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    # urllib cannot send user:password@ from a URL; it becomes an Authorization header.
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    bare = urlunsplit(parts._replace(netloc=netloc))
    return bare, {"Authorization": f"Basic {token}", **headers}


def _secrets(url: str, headers: dict[str, str], extra: Iterable[str]) -> list[str]:
    # An error page may echo the request path (a Slack webhook's path is its secret), so
    # the URL, its path, its long path segments and every header value are blanked out.
    parts = urlsplit(url)
    found = [url, parts.path, parts.query, *headers.values(), *extra]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 8]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _http_error(exc: urllib.error.HTTPError, what: str, hidden: list[str]) -> DeliveryError:
    try:
        body = exc.read(MAX_BODY)
    except (OSError, http.client.HTTPException):
        body = b""
    reason = f"{what} answered HTTP {exc.code}"
    snippet = body_snippet(body, hidden)
    if snippet:
        reason += f": {snippet}"
    if exc.code in RETRY_STATUSES or exc.code >= 500:
        return DeliveryError(
            reason, retry=True, retry_after=parse_retry_after(exc.headers.get("Retry-After"))
        )
    return DeliveryError(reason, retry=False)


def _network_error(exc: BaseException, what: str, timeout: float) -> DeliveryError:
    # URLError wraps the socket error of connecting; errors while reading arrive bare.
    cause = getattr(exc, "reason", exc)
    if isinstance(cause, TimeoutError):
        reason = f"timed out after {timeout:g} s"
    elif isinstance(cause, socket.gaierror):
        reason = "DNS lookup failed"
    elif isinstance(cause, ConnectionRefusedError):
        reason = "connection refused"
    elif isinstance(cause, ConnectionResetError | http.client.RemoteDisconnected):
        reason = "connection reset"
    elif isinstance(cause, ssl.SSLError):
        reason = f"TLS error ({cause.reason or type(cause).__name__})"
    elif isinstance(cause, BaseException):
        # The class name only: an exception's text may quote the host or the URL.
        reason = f"network error ({type(cause).__name__})"
    else:
        reason = "network error"
    return DeliveryError(f"{what}: {reason}", retry=True)


def body_snippet(body: bytes, hidden: Iterable[str] = ()) -> str:
    """The start of an answer's body as one short line, with ``hidden`` strings blanked."""
    text = body.decode("utf-8", errors="replace")
    if text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]*>", " ", text)
    for secret in hidden:
        text = text.replace(secret, "[redacted]")
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date).

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    10.0
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
