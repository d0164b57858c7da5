"""The database store, the default: buckets in the site's own database (SQLite, PostgreSQL,
MySQL/MariaDB), in the tables of ``monitoring.models``.

A write merges each tier bucket into its row inside one transaction: missing rows are
inserted empty first (``INSERT ... ON CONFLICT DO NOTHING``), then every row is locked in
a fixed order (``SELECT ... FOR UPDATE``; SQLite's database lock does the same), merged
and updated. Two processes writing the same bucket therefore wait for each other rather
than lose an update, and never deadlock. Every statement runs muted: the store's queries
are never counted as the site's.

It runs in the flusher thread, on that thread's own connection, which is closed after
each use when ``CONN_MAX_AGE`` says so (or returned to the pool) and dropped when broken.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import reduce
from operator import or_
from urllib.parse import urlsplit

from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections, transaction
from django.db.models import Q

from ..recording.aggregate import Bucket
from ..recording.context import muted
from . import codec
from .base import DEFAULT_TIERS, BaseStore, SharedStore, Span, Tier
from .codec import Document

# Seconds between two purges by the same process; the background service purges too.
PURGE_EVERY = 60
# Attempts at one write when concurrent writers deadlock or insert the same bucket.
CONFLICT_ATTEMPTS = 5
# Deadlock, serialization failure, unique violation (PostgreSQL SQLSTATE; MySQL errno).
CONFLICT_SQLSTATES = {"40P01", "40001", "23505"}
CONFLICT_MYSQL_ERRORS = {1213, 1205, 1062}


def _is_conflict(exc: Exception) -> bool:
    """True when ``exc`` is another writer's doing, so that the write may simply retry."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in CONFLICT_SQLSTATES:
        return True
    args: tuple[object, ...] = getattr(cause, "args", ())
    return bool(args) and args[0] in CONFLICT_MYSQL_ERRORS


class DatabaseStore(SharedStore):
    """Buckets and per-host totals as rows of the ``using`` database."""

    def __init__(
        self,
        using: str = DEFAULT_DB_ALIAS,
        retention_hours: float = 24,
        tiers: Sequence[Tier] = DEFAULT_TIERS,
        clock: Callable[[], float] = time.time,
        host: str | None = None,
    ) -> None:
        super().__init__(retention_hours, tiers, clock)
        self.using = using
        self.host = host or socket.gethostname()
        self._purged_at = 0.0

    @classmethod
    def from_url(cls, url: str, retention_hours: float, host: str | None = None) -> BaseStore:
        """``database://`` (the default database) or ``database://ALIAS``."""
        return cls(urlsplit(url).netloc or DEFAULT_DB_ALIAS, retention_hours, host=host)

    @contextmanager
    def _session(self) -> Iterator[None]:
        """Muted, on a usable connection, closed afterwards as ``CONN_MAX_AGE`` asks."""
        connection = connections[self.using]
        with muted():
            if not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            try:
                yield
            finally:
                if not connection.in_atomic_block:
                    connection.close_if_unusable_or_obsolete()

    def _models(self):  # type: ignore[no-untyped-def]
        from ..models import HostTotals, MetricBucket

        return MetricBucket.objects.using(self.using), HostTotals.objects.using(self.using)

    def write(self, buckets: Sequence[Bucket], batch_id: str | None = None) -> None:
        merged, totals = self.rollup(buckets), self.totals_of(buckets)
        if not merged and totals.is_empty():
            return
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with self._session(), transaction.atomic(using=self.using):
                    self._merge_rows(merged, totals)
                break
            except (OperationalError, IntegrityError) as exc:
                if attempt + 1 == CONFLICT_ATTEMPTS or not _is_conflict(exc):
                    raise
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        if self.clock() - self._purged_at >= PURGE_EVERY:
            self.purge()

    def _merge_rows(self, merged: dict[tuple[int, int], Bucket], totals: Bucket) -> None:
        rows, host_totals = self._models()
        keys = sorted(merged)
        now = int(self.clock())
        # MySQL's INSERT IGNORE share-locks the rows it skips, and two writers upgrading
        # those locks deadlock: there, lock what exists first and insert what is missing.
        insert_first = connections[self.using].vendor != "mysql"
        if insert_first:
            rows.bulk_create(
                [rows.model(resolution=r, start=s) for r, s in keys], ignore_conflicts=True
            )
            host_totals.bulk_create(
                [host_totals.model(host=self.host, updated=now)], ignore_conflicts=True
            )
        locked = {}
        if keys:
            where = reduce(or_, (Q(resolution=r, start=s) for r, s in keys))
            found = rows.select_for_update().filter(where).order_by("resolution", "start")
            locked = {(row.resolution, row.start): row for row in found}
        created = []
        for key in keys:
            bucket, row = merged[key], locked.get(key)
            doc = codec.encode(bucket)
            if row is None:
                created.append(rows.model(resolution=key[0], start=key[1]))
                row = created[-1]
            elif row.data:
                doc = codec.merge_into(
                    codec.loads_document(row.data), doc, bucket.max_slow_queries
                )
            row.data = codec.dumps_document(doc)
        if locked:
            rows.bulk_update(list(locked.values()), ["data"])
        if created:  # a writer inserting the same bucket meanwhile makes this one retry
            rows.bulk_create(created)
        current = host_totals.select_for_update().filter(host=self.host).first()
        doc = codec.encode(totals, keep_sketches=False)
        if current is None:
            current = host_totals.model(host=self.host)
        elif current.data:
            doc = codec.merge_into(codec.loads_document(current.data), doc)
        current.data, current.updated = codec.dumps_document(doc), now
        current.save(using=self.using)

    def read_documents(
        self, resolution: int, since: float, until: float
    ) -> list[tuple[int, Document]]:
        rows, _ = self._models()
        with self._session():
            found = list(
                rows.filter(resolution=resolution, start__gt=since - resolution, start__lte=until)
                .order_by("start")
                .values_list("start", "data")
            )
        return [(start, codec.loads_document(data)) for start, data in found if data]

    def read_texts(self, spans: Sequence[Span]) -> list[tuple[int, int, str | bytes]]:
        if not spans:
            return []
        rows, _ = self._models()
        where = reduce(
            or_,
            (
                Q(resolution=span.seconds, start__gte=span.first, start__lte=span.last)
                for span in spans
            ),
        )
        with self._session():
            found = list(rows.filter(where).values_list("resolution", "start", "data"))
        # Rows inserted empty by a write still in progress elsewhere have no data yet.
        return [(width, start, data) for width, start, data in found if data]

    def read_totals(self) -> Bucket:
        _, host_totals = self._models()
        with self._session():
            found = list(host_totals.filter(host=self.host).values_list("data", flat=True))
        if not found or not found[0]:
            return Bucket(0, 0)
        return codec.loads(found[0], 0, 0, keep_sketches=False)

    def purge(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self._purged_at = now
        rows, host_totals = self._models()
        with self._session():
            for tier in self.tiers:
                horizon = now - self.keep_seconds(tier)
                rows.filter(resolution=tier.seconds, start__lte=horizon - tier.seconds).delete()
            # A host that has written nothing for the whole retention is gone.
            host_totals.filter(updated__lt=now - self.retention_seconds).delete()

    def beat(self, name: str, at: float | None = None) -> None:
        from ..models import Heartbeat

        at = self.clock() if at is None else at
        with self._session():
            Heartbeat.objects.using(self.using).update_or_create(name=name, defaults={"at": at})

    def last_beat(self, name: str) -> float | None:
        from ..models import Heartbeat

        with self._session():
            found = Heartbeat.objects.using(self.using).filter(name=name).first()
        return None if found is None else found.at

    def ping(self) -> None:
        rows, _ = self._models()
        with self._session():
            rows.exists()

    def close(self) -> None:
        connection = connections[self.using]
        if not connection.in_atomic_block:
            connection.close()
