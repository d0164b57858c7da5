"""The Redis store: for many workers on many hosts (``redis://host:port/db``).

Each tier bucket is one key holding a JSON document (``codec``). A write is an optimistic
transaction: ``WATCH`` the keys, read them, merge in this process (counters and sketch
bins add, maxima max), then ``MULTI``/``EXEC`` the results; if another writer changed a
key in between, Redis refuses the transaction and the write starts over, so no update is
ever lost. The merging happens in the worker, not in Redis: Redis only stores and hands
back values, and is never blocked by a script (it is often the site's cache too). Every
write carries a batch id whose receipt is set in the same transaction, so a write retried
after a lost reply is not counted twice. Keys expire with their tier, so nothing is left
behind when the last writer is gone.

URL: ``redis://[:password@]host:port/db?prefix=monitoring:`` (``rediss://`` for TLS);
``prefix`` (default ``monitoring:``) keeps several sites apart on one server.
"""

from __future__ import annotations

import math
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..recording.aggregate import Bucket
from . import codec
from .base import DEFAULT_TIERS, BaseStore, SharedStore, Span, Tier
from .codec import Document

DEFAULT_PREFIX = "monitoring:"
# Seconds a Redis call may take before the flusher gives up on it (and retries later).
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 3.0
# Seconds a batch's receipt is kept: longer than any retry of that batch.
RECEIPT_SECONDS = 3600
# Attempts at one write while other writers keep changing the same keys.
MAX_ATTEMPTS = 50


class StoreBusy(Exception):
    """Other writers changed the same keys on every attempt (retried at the next flush)."""


class RedisStore(SharedStore):
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
        keys, docs, expiries = [], [], []
        for (resolution, start), bucket in sorted(merged.items()):
            tier = next(t for t in self.tiers if t.seconds == resolution)
            keys.append(self.bucket_key(resolution, start))
            docs.append(codec.encode(bucket))
            expiries.append(max(1, math.ceil(start + resolution + self.keep_seconds(tier) - now)))
        keys.append(self.totals_key)
        docs.append(codec.encode(totals, keep_sketches=False))
        expiries.append(self.retention_seconds)
        receipt = f"{self.prefix}receipt:{batch_id or uuid.uuid4().hex}"
        self._merge(receipt, keys, docs, expiries)

    def _merge(
        self, receipt: str, keys: list[str], docs: list[Document], expiries: list[int]
    ) -> None:
        from redis import WatchError

        with self.client.pipeline() as pipe:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    pipe.watch(receipt, *keys)
                    if pipe.exists(receipt):  # this batch was merged; its reply was lost
                        pipe.unwatch()
                        return
                    values = [
                        codec.dumps_document(
                            codec.merge_into(
                                codec.loads_document(stored), doc, self.max_slow_queries
                            )
                            if stored is not None
                            else doc
                        )
                        for stored, doc in zip(pipe.mget(keys), docs, strict=True)
                    ]
                    pipe.multi()
                    pipe.set(receipt, 1, ex=RECEIPT_SECONDS)
                    for key, value, expiry in zip(keys, values, expiries, strict=True):
                        pipe.set(key, value, ex=expiry)
                    pipe.execute()
                    return
                except WatchError:
                    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise StoreBusy(f"{len(keys)} keys changed by other writers on {MAX_ATTEMPTS} attempts")

    def _merged(self, stored: bytes | None, doc: Document) -> str:
        if stored is not None:
            doc = codec.merge_into(codec.loads_document(stored), doc, self.max_slow_queries)
        return codec.dumps_document(doc)

    def read_documents(
        self, resolution: int, since: float, until: float
    ) -> list[tuple[int, Document]]:
        tier = next(t for t in self.tiers if t.seconds == resolution)
        # Nothing older than the tier keeps can be there; do not ask for it.
        since = max(since, self.clock() - self.keep_seconds(tier) - resolution)
        first = int(since) - int(since) % resolution
        if first + resolution <= since:
            first += resolution
        starts = list(range(first, int(until) + 1, resolution))
        found = (
            self.client.mget([self.bucket_key(resolution, s) for s in starts]) if starts else []
        )
        return [
            (start, codec.loads_document(text))
            for start, text in zip(starts, found, strict=True)
            if text is not None
        ]

    def read_texts(self, spans: Sequence[Span]) -> list[tuple[int, int, str | bytes]]:
        wanted = [
            (span.seconds, start)
            for span in spans
            for start in range(span.first, span.last + 1, span.seconds)
        ]
        found = self.client.mget([self.bucket_key(*w) for w in wanted]) if wanted else []
        return [(*w, text) for w, text in zip(wanted, found, strict=True) if text is not None]

    def read_totals(self) -> Bucket:
        text = self.client.get(self.totals_key)
        if text is None:
            return Bucket(0, 0)
        return codec.loads(text, 0, 0, keep_sketches=False)

    def beat(self, name: str, at: float | None = None) -> None:
        at = self.clock() if at is None else at
        self.client.set(f"{self.prefix}beat:{name}", repr(at), ex=self.retention_seconds)

    def last_beat(self, name: str) -> float | None:
        value = self.client.get(f"{self.prefix}beat:{name}")
        return None if value is None else float(value)

    def purge(self, now: float | None = None) -> None:
        """Nothing to do: every key expires when its tier no longer keeps it."""

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()
