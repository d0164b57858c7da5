"""The contract of a notification channel, and the message every channel is given.

A channel turns one :class:`Message` (an alert firing or resolved, or a test) into one
request to the outside world: an email, a Slack post, a PagerDuty event, a webhook call.
It raises :class:`DeliveryError` when that fails, saying whether trying again could help;
the outbox (``monitoring.alerts.delivery``) owns retries, backoff and ordering, so a channel
sends once and returns.

To add a channel, subclass :class:`Channel`, implement :meth:`Channel.send`, and name the
class in ``MONITORING['ALERT_CHANNELS']``::

    MONITORING = {"ALERT_CHANNELS": {"teams": {"CLASS": "mysite.alerts.TeamsChannel",
                                               "URL": "https://..."}}}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, ClassVar


@dataclass(frozen=True)
class Message:
    """What a channel is asked to say about one alert.

    ``status`` is ``"firing"`` or ``"resolved"``. ``value_text`` and ``threshold_text`` are
    already formatted in the metric's unit ("12.5%", "1.84 s"). ``labels`` always hold
    ``alertname`` and ``severity``, and ``route`` for alerts grouped by route.
    ``dedup_key`` is the same for every message of one alert (PagerDuty's ``dedup_key``).
    ``cooldown_seconds`` is the alert's repeat interval (None: ``ALERT_COOLDOWN``).
    """

    rule: str
    status: str
    severity: str
    summary: str
    description: str
    labels: dict[str, str]
    metric: str
    operator: str
    value: float | None
    threshold: float
    value_text: str
    threshold_text: str
    window_seconds: int
    started_at: float
    dedup_key: str
    host: str
    ended_at: float | None = None
    runbook_url: str | None = None
    dashboard_url: str | None = None
    notification_id: int | None = None
    repeat: bool = False
    test: bool = False
    cooldown_seconds: int | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        return self.labels.get("route", "")

    @property
    def window_text(self) -> str:
        """The window as people write it: "5m", "1h", "90s"."""
        seconds = self.window_seconds
        for unit, size in (("h", 3600), ("m", 60)):
            if seconds % size == 0 and seconds >= size:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (kept in the outbox row)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def iso8601(epoch: float) -> str:
    """``2026-11-27T04:37:16.123Z``: the timestamp format of the channels' APIs."""
    return (
        datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


class DeliveryError(Exception):
    """A message was not delivered.

    ``retry`` says whether sending it again later could succeed (a timeout, a 5xx, a 429)
    or not (a 400 or 404: the request itself is wrong). ``retry_after`` is the wait, in
    seconds, the other side asked for. ``reason`` is one line fit for logs and the admin:
    it never holds a webhook URL, a routing key or any other secret.
    """

    def __init__(self, reason: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after = retry_after


class Channel:
    """Base class of the channels: one configured destination for messages.

    ``options`` is the channel's entry of ``ALERT_CHANNELS`` merged over its built-in
    defaults (upper-case keys, e.g. ``URL``, ``TIMEOUT``). Subclasses implement
    :meth:`send`, and may set ``min_interval`` (seconds between two messages to one
    destination, e.g. Slack's one per second) and :meth:`problems`.
    """

    min_interval: ClassVar[float] = 0.0

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options
        self.timeout = float(options.get("TIMEOUT") or 10)

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`DeliveryError` when it did not go out."""
        raise NotImplementedError

    def problems(self) -> list[str]:
        """What is wrong with the options (e.g. no URL), as sentences; empty when usable."""
        return []

    @property
    def destination(self) -> str:
        """A key for ``min_interval``: messages to one destination are spaced out."""
        return self.name


class HttpChannel(Channel):
    """A channel that POSTs JSON to its ``URL`` option, with the extra request ``HEADERS``
    option (e.g. ``{"Authorization": "Bearer ..."}``): Slack, webhooks, Alertmanager.

    The URL may hold a secret (a Slack webhook's path, a token): it keys the spacing of
    messages in memory and never appears in a reason or a log line.
    """

    url_setting: ClassVar[str] = "URL"  # the setting that gives the URL, for problems()
    url_noun: ClassVar[str] = "URL"

    @property
    def url(self) -> str:
        return str(self.options.get("URL") or "")

    @property
    def destination(self) -> str:
        return self.url or self.name

    @property
    def headers(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.options.get("HEADERS") or {}).items()}

    def problems(self) -> list[str]:
        if self.url:
            return []
        return [f"no {self.url_noun}: set {self.url_setting} (or the channel's URL)"]

    def require_url(self) -> str:
        """The URL, or a :class:`DeliveryError` that is not retried when there is none."""
        if not self.url:
            raise DeliveryError(f"{self.name}: no {self.url_noun} configured", retry=False)
        return self.url
