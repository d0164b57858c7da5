"""Tables of the database store (the default store): metric buckets and per-host totals.

Each row holds one time bucket of one tier (or one host's cumulative totals) as a JSON
document (``monitoring.stores.codec``). Rows are merged under a row lock, so any number of
processes and hosts can write the same bucket.
"""

from __future__ import annotations

from django.db import models


class MetricBucket(models.Model):
    """Everything recorded fleet-wide in ``[start, start + resolution)`` seconds."""

    resolution = models.PositiveIntegerField(help_text="Tier width in seconds.")
    start = models.BigIntegerField(help_text="Epoch seconds, a multiple of the resolution.")
    data = models.TextField(blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resolution", "start"], name="monitoring_bucket_resolution_start"
            )
        ]
        verbose_name = "metric bucket"

    def __str__(self) -> str:
        return f"{self.resolution} s bucket at {self.start}"


class HostTotals(models.Model):
    """Cumulative counters and histogram counts of one host, for Prometheus."""

    host = models.CharField(max_length=255, unique=True)
    data = models.TextField(blank=True, default="")
    updated = models.BigIntegerField(help_text="Epoch seconds of the last write.")

    class Meta:
        verbose_name = "host totals"
        verbose_name_plural = "host totals"

    def __str__(self) -> str:
        return f"totals of {self.host}"


class Heartbeat(models.Model):
    """When a named process (the background service) last completed its work."""

    name = models.CharField(max_length=100, unique=True)
    at = models.FloatField(help_text="Epoch seconds.")

    def __str__(self) -> str:
        return f"{self.name} at {self.at}"
