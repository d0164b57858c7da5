"""The real servers the tests talk to, and what to do when one is down."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

# Database 14 holds the Redis stores of the tests, each under a prefix of its own; the
# cache tests use database 15.
REDIS_STORE_URL = "redis://127.0.0.1:6379/14"


def free_port() -> int:
    """A local TCP port on which nothing listens (just released by the kernel)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def require_server(name: str, check: Callable[[], object]) -> None:
    """Skip when a server is down, except in CI, where that is a failure."""
    try:
        check()
    except Exception as exc:
        reason = f"{name} is not reachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must provide it (scripts/services.sh)")
        pytest.skip(f"{reason}; start it with scripts/services.sh to run this test")


def redis_client(url: str = REDIS_STORE_URL) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    require_server(f"Redis at {url}", client.ping)
    return client


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    client = redis_client()
    prefix = f"test-{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
