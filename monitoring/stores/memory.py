"""The memory store: one process only (tests, single-process development)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..recording.aggregate import Bucket
from . import codec
from .base import DEFAULT_TIERS, BaseStore, Span, Tier
from .codec import Document


class MemoryStore(BaseStore):
    """Keeps tiers of bucket documents and the totals in this process's memory."""

    def __init__(
        self,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_hours, tiers, clock)
        self._lock = threading.Lock()
        self._tiers: dict[int, dict[int, Document]] = {tier.seconds: {} for tier in self.tiers}
        self._totals: Document = {}
        self._beats: dict[str, float] = {}

    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        merged, totals = self.rollup(buckets), self.totals_of(buckets)
        with self._lock:
            for (resolution, start), bucket in merged.items():
                kept = self._tiers[resolution]
                doc = codec.encode(bucket)
                if start in kept:
                    codec.merge_into(kept[start], doc, bucket.max_slow_queries)
                else:
                    kept[start] = doc
            codec.merge_into(self._totals, codec.encode(totals, keep_sketches=False))
        self.purge()

    def read_documents(
        self, resolution: int, since: float, until: float
    ) -> list[tuple[int, Document]]:
        with self._lock:
            kept = self._tiers[resolution]
            # Copies, so that a concurrent write cannot change what the caller reads.
            return [
                (start, codec.merge_documents([kept[start]]))
                for start in sorted(kept)
                if start + resolution > since and start <= until
            ]

    def merge_documents(self, spans: Sequence[Span]) -> Document:
        # Merged straight from the stored documents (the merge copies what it keeps).
        with self._lock:
            return codec.merge_documents(
                self._tiers[span.seconds][start]
                for span in spans
                for start in range(span.first, span.last + 1, span.seconds)
                if start in self._tiers[span.seconds]
            )

    def read_totals(self) -> Bucket:
        with self._lock:
            return codec.decode(self._totals, 0, 0, keep_sketches=False)

    def beat(self, name: str, at: float | None = None) -> None:
        self._beats[name] = self.clock() if at is None else at

    def last_beat(self, name: str) -> float | None:
        return self._beats.get(name)

    def purge(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        with self._lock:
            for tier in self.tiers:
                horizon = now - self.keep_seconds(tier)
                kept = self._tiers[tier.seconds]
                for start in [s for s in kept if s + tier.seconds <= horizon]:
                    del kept[start]
