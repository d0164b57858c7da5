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


# Alerting: the current state of each alert, its history, the delivery outbox, silences.

SEVERITIES = [("critical", "critical"), ("warning", "warning"), ("info", "info")]


class AlertState(models.Model):
    """An alert that is pending or firing now (alerts that are ok have no row).

    One row per rule, and per route for rules grouped by route. The row is what survives
    a restart: when the ``for`` period began, when it fired, when it last notified.
    """

    STATUSES = [("pending", "pending"), ("firing", "firing")]

    rule = models.CharField(max_length=100)
    route = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=10, choices=STATUSES)
    severity = models.CharField(max_length=10, choices=SEVERITIES)
    value = models.FloatField(null=True)
    threshold = models.FloatField()
    active_since = models.DateTimeField(help_text="When the condition began to hold.")
    fired_at = models.DateTimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField()
    dedup_key = models.CharField(max_length=255)
    summary = models.CharField(max_length=1024, blank=True, default="")
    muted = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Why nothing is sent now: the silence or the inhibiting alert.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "route"], name="monitoring_alert_rule_route")
        ]
        ordering = ["-status", "rule", "route"]
        verbose_name = "active alert"

    def __str__(self) -> str:
        return f"{self.rule}{' ' + self.route if self.route else ''} ({self.status})"


class AlertEvent(models.Model):
    """One transition of one alert: ok -> pending -> firing -> resolved (or pending -> ok)."""

    STATES = [("ok", "ok"), ("pending", "pending"), ("firing", "firing"), ("resolved", "resolved")]

    rule = models.CharField(max_length=100, db_index=True)
    route = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=10, choices=SEVERITIES)
    from_state = models.CharField(max_length=10, choices=STATES)
    to_state = models.CharField(max_length=10, choices=STATES)
    value = models.FloatField(null=True)
    threshold = models.FloatField()
    operator = models.CharField(max_length=2)
    metric = models.CharField(max_length=100)
    window_seconds = models.PositiveIntegerField()
    at = models.DateTimeField(db_index=True)
    summary = models.CharField(max_length=1024, blank=True, default="")
    muted = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Why nothing was sent: the silence or the inhibiting alert.",
    )

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "alert history entry"
        verbose_name_plural = "alert history"

    def __str__(self) -> str:
        return f"{self.rule}: {self.from_state} -> {self.to_state}"


class Notification(models.Model):
    """One message to one channel, queued in the transaction of the alert's transition.

    Delivered by the background service, oldest first per channel, with retries; the row's
    status says whether it went out.
    """

    STATUSES = [("pending", "pending"), ("sent", "sent"), ("failed", "failed")]

    event = models.ForeignKey(
        AlertEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    channel = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, help_text="firing or resolved")
    dedup_key = models.CharField(max_length=255)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=STATUSES, default="pending")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["channel", "status", "id"], name="monitoring_outbox_due")]
        ordering = ["-id"]
        verbose_name = "alert notification"

    def __str__(self) -> str:
        return f"{self.kind} {self.dedup_key} to {self.channel} ({self.status})"


class Silence(models.Model):
    """A time-bounded mute: matching alerts are recorded but notify no one.

    An empty ``rule``, ``route`` or ``severity`` matches any value.
    """

    rule = models.CharField(max_length=100, blank=True, default="")
    route = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=10, blank=True, default="", choices=SEVERITIES)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.CharField(max_length=500)
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ends_at"]

    def __str__(self) -> str:
        return f"silence of {self.rule or 'every rule'} until {self.ends_at:%Y-%m-%d %H:%M}"

    def matches(self, rule: str, route: str, severity: str) -> bool:
        """Whether this silence covers an alert with these labels (ignoring time)."""
        return all(
            not wanted or wanted == actual
            for wanted, actual in (
                (self.rule, rule),
                (self.route, route),
                (self.severity, severity),
            )
        )


class ServiceLease(models.Model):
    """Who leads the background service: the one copy that evaluates and notifies.

    ``token`` grows by one at each change of holder (a fencing token): a copy that lost
    the lease, even one that slept through losing it, can no longer renew it.
    """

    name = models.CharField(max_length=100, unique=True)
    holder = models.CharField(max_length=255, blank=True, default="")
    token = models.BigIntegerField(default=0)
    expires_at = models.FloatField(default=0, help_text="Epoch seconds.")

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'no one'}"


# Baselines: a recorded reference of each route's performance, compared with the present.


class BaselineFigures(models.Model):
    """The figures a baseline keeps, for the whole site or one route (durations in seconds;
    a figure with no data, such as a hit rate without cache reads, is null)."""

    requests = models.PositiveBigIntegerField()
    request_rate = models.FloatField(help_text="Requests per second over the window.")
    error_rate = models.FloatField(null=True, blank=True, help_text="5xx responses / requests.")
    p50 = models.FloatField(null=True, blank=True, help_text="Median latency, seconds.")
    p95 = models.FloatField(null=True, blank=True, help_text="95th percentile, seconds.")
    p99 = models.FloatField(null=True, blank=True, help_text="99th percentile, seconds.")
    queries_per_request = models.FloatField(null=True, blank=True)
    cache_hit_rate = models.FloatField(null=True, blank=True, help_text="Hits / cache reads.")

    class Meta:
        abstract = True


class Baseline(BaselineFigures):
    """The site's performance over a window, recorded by ``manage.py record_baseline``.

    The figures on this row are the whole site's; :class:`BaselineRoute` rows hold each
    route's. The active baseline (``ACTIVE_BASELINE``, else the latest) is what the
    ``performance_regression`` rule compares with.
    """

    name = models.CharField(max_length=100, unique=True)
    window_seconds = models.PositiveIntegerField(help_text="Length of the recorded window.")
    recorded_at = models.DateTimeField(help_text="End of the recorded window.")

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return self.name


class BaselineRoute(BaselineFigures):
    """One route's figures in a :class:`Baseline`."""

    baseline = models.ForeignKey(Baseline, on_delete=models.CASCADE, related_name="routes")
    route = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["baseline", "route"], name="monitoring_baseline_route")
        ]
        ordering = ["route"]
        verbose_name = "baseline route"

    def __str__(self) -> str:
        return f"{self.route} in {self.baseline_id}"
