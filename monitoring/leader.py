"""One leader among the copies of the background service: a lease with a fencing token.

Every copy samples its own host; only the holder of the lease evaluates the rules and
delivers notifications. The lease lasts ``ttl`` seconds and the leader renews it at each
cycle and before each notification it sends; a copy that finds it expired takes it, with
a new token. A leader that died or hung loses it when it expires, and one that wakes up
afterwards fails its next renewal (its token is stale) and stops.

The lease lives where the metric store lives: in Redis for a Redis store
(:class:`RedisLease`), else in the database (:class:`DatabaseLease`), where the renewal
can share the transaction that records an evaluation.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

from django.db import IntegrityError, router, transaction
from django.db.models import F

from .models import ServiceLease
from .stores.base import BaseStore

NAME = "run_monitoring"


def holder_id() -> str:
    """This process, as the lease names it: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BaseLease(ABC):
    """A renewable, expiring lease held by at most one copy at a time."""

    def __init__(self, ttl: float, holder: str | None = None, name: str = NAME) -> None:
        self.ttl = ttl
        self.holder = holder or holder_id()
        self.name = name
        self.token: int | None = None

    def hold(self, now: float | None = None) -> bool:
        """Renew the lease when this copy holds it, else take it if it has expired.

        Returns whether this copy leads now.
        """
        now = time.time() if now is None else now
        if self.token is not None and self.renew(now):
            return True
        self.token = self._take(now)
        return self.token is not None

    def renew(self, now: float | None = None) -> bool:
        """Extend the lease; False (and no longer leading) when someone else holds it."""
        if self.token is None:
            return False
        if not self._extend(self.token, time.time() if now is None else now):
            self.token = None
        return self.token is not None

    @abstractmethod
    def _take(self, now: float) -> int | None:
        """Take the lease if it is free or expired; the new token, or None."""

    @abstractmethod
    def _extend(self, token: int, now: float) -> bool:
        """Extend the lease held under ``token``; False when it is no longer held."""

    @abstractmethod
    def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so another copy takes over."""

    @abstractmethod
    def current(self) -> dict[str, Any]:
        """The lease as stored: holder, token, expires_at (for operators and tests)."""


class DatabaseLease(BaseLease):
    """The lease as a row of ``ServiceLease``, changed only by conditional UPDATEs."""

    def __init__(
        self, ttl: float, holder: str | None = None, name: str = NAME, using: str | None = None
    ) -> None:
        super().__init__(ttl, holder, name)
        self.db = using or router.db_for_write(ServiceLease)

    def _rows(self) -> Any:
        return ServiceLease.objects.using(self.db).filter(name=self.name)

    def _take(self, now: float) -> int | None:
        if not self._rows().exists():
            try:
                with transaction.atomic(using=self.db):
                    ServiceLease.objects.using(self.db).create(name=self.name)
            except IntegrityError:
                pass  # another copy created it first
        taken = (
            self._rows()
            .filter(expires_at__lt=now)
            .update(holder=self.holder, expires_at=now + self.ttl, token=F("token") + 1)
        )
        if not taken:
            return None
        row = self._rows().filter(holder=self.holder).values_list("token", flat=True).first()
        return int(row) if row is not None else None

    def _extend(self, token: int, now: float) -> bool:
        return bool(
            self._rows()
            .filter(holder=self.holder, token=token, expires_at__gte=now)
            .update(expires_at=now + self.ttl)
        )

    def release(self) -> None:
        if self.token is not None:
            self._rows().filter(holder=self.holder, token=self.token).update(expires_at=0)
            self.token = None

    def current(self) -> dict[str, Any]:
        return self._rows().values("holder", "token", "expires_at").first() or {}


# KEYS[1] the lease, KEYS[2] its token counter; ARGV holder, ttl in ms.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""
# KEYS[1] the lease; ARGV holder|token, ttl in ms.
_EXTEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease(BaseLease):
    """The lease as a Redis key that expires by itself (``SET ... PX``), changed by scripts
    that compare the holder and token first."""

    def __init__(
        self, client: Any, prefix: str, ttl: float, holder: str | None = None, name: str = NAME
    ) -> None:
        super().__init__(ttl, holder, name)
        self.client = client
        self.key = f"{prefix}lease:{name}"
        self.counter = f"{prefix}lease:{name}:token"

    def _value(self, token: int) -> str:
        return f"{self.holder}|{token}"

    def _take(self, now: float) -> int | None:
        token = self.client.eval(
            _TAKE, 2, self.key, self.counter, self.holder, int(self.ttl * 1000)
        )
        return None if token is None else int(token)

    def _extend(self, token: int, now: float) -> bool:
        return bool(
            self.client.eval(_EXTEND, 1, self.key, self._value(token), int(self.ttl * 1000))
        )

    def release(self) -> None:
        if self.token is not None:
            self.client.eval(_RELEASE, 1, self.key, self._value(self.token))
            self.token = None

    def current(self) -> dict[str, Any]:
        raw = self.client.get(self.key)
        if raw is None:
            return {}
        holder, _, token = (raw.decode() if isinstance(raw, bytes) else raw).rpartition("|")
        return {
            "holder": holder,
            "token": int(token),
            "expires_at": time.time() + self.client.pttl(self.key) / 1000,
        }


def lease_for(store: BaseStore, ttl: float) -> BaseLease:
    """The lease that matches the store: Redis for a Redis store, else the database."""
    from .stores.redis import RedisStore

    if isinstance(store, RedisStore):
        return RedisLease(store.client, store.prefix, ttl)
    return DatabaseLease(ttl)
