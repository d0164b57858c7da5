"""The store contract: what every metric store does, and the tiers windows read from.

A store receives closed or partial :class:`~monitoring.recording.aggregate.Bucket` s from
every process (``write``), merges them by time, keeps cumulative totals for Prometheus
(``read_totals``), and answers windowed reads. Writing the same time slice twice adds to
it: a partial bucket flushed early and the rest flushed later sum to the right numbers.

Long windows must not cost more as buckets pile up, so every written bucket also merges
into coarser tiers; a read uses the finest tier that still covers its window.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import NamedTuple

from ..recording.aggregate import Bucket
from ..window import Window
from . import codec
from .codec import Document


class Tier(NamedTuple):
    """Buckets of ``seconds`` width, kept for ``keep`` seconds (None: the retention)."""

    seconds: int
    keep: int | None


# 10 s for 15 min, 1 min for 3 h, 10 min for 6 h, 1 h for the retention: a 24 h window
# merges 25 buckets, not 8,640.
DEFAULT_TIERS = (Tier(10, 15 * 60), Tier(60, 3 * 3600), Tier(600, 6 * 3600), Tier(3600, None))


class BaseStore(ABC):
    """Base class of every store; subclasses implement the abstract methods."""

    def __init__(
        self,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retention_seconds = int(retention_hours * 3600)
        self.tiers = tuple(tiers)
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, retention_hours: float, host: str | None = None) -> BaseStore:
        """Build the store from its ``MONITORING_STORE_URL``."""
        return cls(retention_hours=retention_hours)

    @abstractmethod
    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        """Merge ``buckets`` into every tier and into this host's cumulative totals.

        ``batch_id`` names the batch: a store that can tell applies a batch retried under
        the same id only once.
        """

    @abstractmethod
    def read_documents(
        self, resolution: int, since: float, until: float
    ) -> list[tuple[int, Document]]:
        """(start, document) of the tier-``resolution`` buckets overlapping ``[since, until]``,
        oldest first; the documents (``codec``) are the caller's to change."""

    def merge_documents(
        self, resolution: int, since: float, until: float
    ) -> tuple[int | None, Document]:
        """(first start or None, the sum) of the documents :meth:`read_documents` returns."""
        found = self.read_documents(resolution, since, until)
        return (found[0][0] if found else None), codec.merge_documents(doc for _, doc in found)

    def read_buckets(self, resolution: int, since: float, until: float) -> list[Bucket]:
        """Return the tier-``resolution`` buckets overlapping ``[since, until]``, oldest first."""
        return [
            codec.decode(doc, start, resolution)
            for start, doc in self.read_documents(resolution, since, until)
        ]

    @abstractmethod
    def read_totals(self) -> Bucket:
        """Return cumulative counters and histogram counts since the store began (no sketches)."""

    @abstractmethod
    def purge(self, now: float | None = None) -> None:
        """Remove data older than each tier keeps it (the last tier: the retention)."""

    def ping(self) -> None:  # noqa: B027 - optional hook; in-process stores are always up
        """Raise if the store cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional hook; nothing to release by default
        """Release connections; the store may be used again afterwards."""

    def rollup(self, buckets: Sequence[Bucket]) -> dict[tuple[int, int], Bucket]:
        """``buckets`` merged into the bucket of every tier they fall in, by (width, start).

        Tier buckets already past what their tier keeps are left out: writing them would
        only have them purged again.
        """
        now = self.clock()
        merged: dict[tuple[int, int], Bucket] = {}
        for tier in self.tiers:
            horizon = now - self.keep_seconds(tier)
            for bucket in buckets:
                start = bucket.start - bucket.start % tier.seconds
                if start + tier.seconds <= horizon:
                    continue
                target = merged.get((tier.seconds, start))
                if target is None:
                    target = merged[tier.seconds, start] = Bucket(
                        start, tier.seconds, max_slow_queries=bucket.max_slow_queries
                    )
                target.merge(bucket)
        return merged

    @staticmethod
    def totals_of(buckets: Sequence[Bucket]) -> Bucket:
        """The cumulative part of ``buckets``: counters and histogram counts, no sketches."""
        totals = Bucket(0, 0)
        for bucket in buckets:
            totals.merge(bucket, keep_sketches=False)
        return totals

    def keep_seconds(self, tier: Tier) -> int:
        return min(tier.keep or self.retention_seconds, self.retention_seconds)

    def tier_for(self, seconds: float) -> Tier:
        """The finest tier whose kept span covers a window of ``seconds``."""
        for tier in self.tiers:
            if seconds <= self.keep_seconds(tier):
                return tier
        return self.tiers[-1]

    def read_window(self, seconds: float, now: float | None = None) -> Window:
        """Merge every bucket overlapping the last ``seconds`` into one :class:`Window`.

        Raises ValueError for a window longer than the retention.
        """
        if not 0 < seconds <= self.retention_seconds:
            raise ValueError(
                f"window must be between 1 s and the retention ({self.retention_seconds} s)"
            )
        now = self.clock() if now is None else now
        tier = self.tier_for(seconds)
        first, merged = self.merge_documents(tier.seconds, now - seconds, now)
        start = min(first, now - seconds) if first is not None else now - seconds
        return Window(
            start=start, end=now, data=codec.decode(merged, int(start), int(now - start))
        )
