"""The Redis store: for many workers on many hosts (``redis://host:port/db``).

Each tier bucket is one key holding a JSON document (``codec``); a write sends only what
this process recorded, and a Lua script (``redis_merge.lua``) adds it into the stored
document inside Redis: counters and sketch bins add, maxima max, atomically, whatever
the number of writers. Every write carries a batch id whose receipt the script sets, so a
write retried after a lost reply is not counted twice. Keys expire with their tier, so
nothing is left behind when the last writer is gone.

URL: ``redis://[:password@]host:port/db?prefix=monitoring:`` (``rediss://`` for TLS);
``prefix`` (default ``monitoring:``) keeps several sites apart on one server.
"""

from __future__ import annotations

import math
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..recording.aggregate import Bucket
from . import codec
from .base import DEFAULT_TIERS, BaseStore, Tier

DEFAULT_PREFIX = "monitoring:"
# Seconds a Redis call may take before the flusher gives up on it (and retries later).
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 3.0
# Seconds a batch's receipt is kept: longer than any retry of that batch.
RECEIPT_SECONDS = 3600

MERGE_SCRIPT = files(__package__).joinpath("redis_merge.lua").read_text()


class RedisStore(BaseStore):
    """Buckets as JSON documents under ``prefix`` in one Redis database."""

    def __init__(
        self,
        client: Any,
        prefix: str = DEFAULT_PREFIX,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
        max_slow_queries: int = 50,
    ) -> None:
        super().__init__(retention_hours, tiers, clock)
        self.client = client
        self.prefix = prefix
        self.host = host or socket.gethostname()
        self.max_slow_queries = max_slow_queries
        self._merge = client.register_script(MERGE_SCRIPT)

    @classmethod
    def from_url(cls, url: str, retention_hours: float, host: str | None = None) -> BaseStore:
        import redis

        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefix = dict(query).get("prefix", DEFAULT_PREFIX)
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        client = redis.Redis.from_url(
            urlunsplit(parts._replace(query=rest)),
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            health_check_interval=30,
        )
        return cls(client, prefix, retention_hours, host=host)

    def bucket_key(self, resolution: int, start: int) -> str:
        return f"{self.prefix}bucket:{resolution}:{start}"

    @property
    def totals_key(self) -> str:
        return f"{self.prefix}totals:{self.host}"

    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        merged, totals = self.rollup(buckets), self.totals_of(buckets)
        if not merged and totals.is_empty():
            return
        now = self.clock()
        keys = [f"{self.prefix}receipt:{batch_id or uuid.uuid4().hex}"]
        args: list[Any] = [RECEIPT_SECONDS, self.max_slow_queries]
        for (resolution, start), bucket in sorted(merged.items()):
            tier = next(t for t in self.tiers if t.seconds == resolution)
            expires = start + resolution + self.keep_seconds(tier) - now
            keys.append(self.bucket_key(resolution, start))
            args += [max(1, math.ceil(expires)), codec.dumps(bucket)]
        keys.append(self.totals_key)
        args += [self.retention_seconds, codec.dumps(totals, keep_sketches=False)]
        self._merge(keys=keys, args=args)

    def read_buckets(self, resolution: int, since: float, until: float) -> list[Bucket]:
        tier = next(t for t in self.tiers if t.seconds == resolution)
        # Nothing older than the tier keeps can be there; do not ask for it.
        since = max(since, self.clock() - self.keep_seconds(tier) - resolution)
        first = int(since) - int(since) % resolution
        if first + resolution <= since:
            first += resolution
        starts = list(range(first, int(until) + 1, resolution))
        if not starts:
            return []
        found = self.client.mget([self.bucket_key(resolution, s) for s in starts])
        return [
            codec.loads(text, start, resolution, self.max_slow_queries)
            for start, text in zip(starts, found, strict=True)
            if text is not None
        ]

    def read_totals(self) -> Bucket:
        text = self.client.get(self.totals_key)
        if text is None:
            return Bucket(0, 0)
        return codec.loads(text, 0, 0, keep_sketches=False)

    def purge(self, now: float | None = None) -> None:
        """Nothing to do: every key expires when its tier no longer keeps it."""

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()
