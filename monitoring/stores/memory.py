"""The memory store: one process only (tests, single-process development)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..recording.aggregate import Bucket, merge_buckets
from .base import DEFAULT_TIERS, BaseStore, Tier


class MemoryStore(BaseStore):
    """Keeps tiers of buckets and the totals in this process's memory."""

    def __init__(
        self,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(retention_hours, tiers, clock)
        self._lock = threading.Lock()
        self._tiers: dict[int, dict[int, Bucket]] = {tier.seconds: {} for tier in self.tiers}
        self._totals = Bucket(0, 0)

    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        merged, totals = self.rollup(buckets), self.totals_of(buckets)
        with self._lock:
            for (resolution, start), bucket in merged.items():
                kept = self._tiers[resolution]
                if start in kept:
                    kept[start].merge(bucket)
                else:
                    kept[start] = bucket
            self._totals.merge(totals, keep_sketches=False)
        self.purge()

    def read_buckets(self, resolution: int, since: float, until: float) -> list[Bucket]:
        with self._lock:
            kept = self._tiers[resolution]
            # Copies, so that a concurrent write cannot change what the caller reads.
            return [
                merge_buckets([kept[start]], start, resolution)
                for start in sorted(kept)
                if start + resolution > since and start <= until
            ]

    def read_totals(self) -> Bucket:
        with self._lock:
            totals = Bucket(0, 0)
            totals.merge(self._totals, keep_sketches=False)
            return totals

    def purge(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        with self._lock:
            for tier in self.tiers:
                horizon = now - self.keep_seconds(tier)
                kept = self._tiers[tier.seconds]
                for start in [s for s in kept if s + tier.seconds <= horizon]:
                    del kept[start]
