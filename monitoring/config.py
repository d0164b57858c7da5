"""Settings of the monitoring app: defaults, the ``MONITORING`` dict, environment overrides.

This module is the only reader of ``settings.MONITORING`` and of the environment.
Precedence, lowest first: ``DEFAULTS`` < ``settings.MONITORING`` < environment variables
(deploy-time wins). Invalid values never raise at request time: :func:`get_config` falls
back to the default for that key and :func:`config_problems` lists what was wrong, which
the system checks in ``checks.py`` report as ``monitoring.E0NN``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from .params import parse_duration

DEFAULTS: dict[str, Any] = {
    # Where aggregated metrics live: database://[ALIAS] (the site's database, the default),
    # redis://host:port/db (many hosts), memory:// (one process: tests, development).
    "STORE_URL": "database://",
    # Name of this host's cumulative totals in the store (None: the machine's host name).
    "HOST": None,
    # Seconds of metrics kept in memory (and retried) while the store cannot be written.
    "STORE_BACKLOG_SECONDS": 300,
    # Hours of metrics kept; windows can reach back this far.
    "RETENTION_HOURS": 24,
    # Seconds between background-service cycles.
    "COLLECTION_INTERVAL": 60,
    # Seconds between flushes of a process's in-memory aggregate to the store.
    "FLUSH_INTERVAL": 10,
    # Width of the finest time bucket, in seconds.
    "BUCKET_SECONDS": 10,
    # Relative error of every percentile (the sketches' accuracy).
    "SKETCH_RELATIVE_ACCURACY": 0.01,
    # Bearer token accepted by the protected endpoints (None: no token access).
    "TOKEN": None,
    # Addresses or networks allowed to read the protected endpoints.
    "ALLOWED_IPS": ["127.0.0.1", "::1"],
    # Reverse proxies (addresses or networks) whose X-Forwarded-For header is believed;
    # from anyone else the header is ignored.
    "TRUSTED_PROXIES": [],
    # Regular expressions matched against request.path_info; matches are not recorded.
    "EXCLUDE_PATHS": [r"^/static/", r"^/media/", r"^/favicon\.ico$"],
    # Database aliases and cache aliases left uninstrumented.
    "EXCLUDE_DATABASES": [],
    "EXCLUDE_CACHES": [],
    # A query at least this slow (milliseconds) is kept as a slow query.
    "SLOW_QUERY_MS": 100,
    # One fingerprint repeated this many times in one request is an N+1 suspect.
    "N_PLUS_ONE_THRESHOLD": 5,
    # Dotted path of a function(key: str) -> str giving a cache key's prefix label.
    "CACHE_KEY_PREFIX_FUNCTION": None,
    # Bounds on distinct label values kept per label; the rest is counted as "other".
    "MAX_ROUTES": 500,
    "MAX_FINGERPRINTS": 1000,
    "MAX_CACHE_PREFIXES": 100,
    "MAX_EXCEPTION_TYPES": 100,
    # Slow queries kept per time bucket (the slowest win).
    "MAX_SLOW_QUERIES": 50,
    # Statements with series of their own in the Prometheus exposition (the top ones by
    # total time); the rest are summed as fingerprint="other", which keeps scrapes small.
    "PROMETHEUS_TOP_FINGERPRINTS": 20,
    # Prometheus histogram bucket upper bounds.
    "REQUEST_DURATION_BUCKETS": [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    "QUERY_DURATION_BUCKETS": [
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
    ],
    "QUERIES_PER_REQUEST_BUCKETS": [0, 1, 2, 5, 10, 20, 50, 100, 200, 500],
    "CACHE_DURATION_BUCKETS": [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5],
    # Health checks: seconds each may take, disk path, (degraded, error) usage thresholds in
    # percent, and dotted paths of the site's own checks (see monitoring/health.py).
    "HEALTH_CHECK_TIMEOUT": 3,
    "HEALTH_DISK_PATH": "/",
    "HEALTH_DISK_THRESHOLDS": [90, 95],
    "HEALTH_MEMORY_THRESHOLDS": [90, 95],
    "HEALTH_CHECKS": [],
    # Database aliases the health checks query (None: every alias).
    "HEALTH_DATABASES": None,
    # Route ratings by p95 latency: [[upper bound in ms, rating], ...], increasing; slower
    # than the last bound is "poor".
    "PERFORMANCE_RATINGS": [[100, "excellent"], [300, "good"], [1000, "fair"]],
    # Alert delivery (used by the alerting engine).
    "ALERT_EMAIL_ENABLED": False,
    "ALERT_EMAIL_RECIPIENTS": [],
    "ALERT_SLACK_ENABLED": False,
    "SLACK_WEBHOOK_URL": None,
    "ALERT_PAGERDUTY_ENABLED": False,
    "PAGERDUTY_ROUTING_KEY": None,
    "PAGERDUTY_EVENTS_URL": "https://events.pagerduty.com/v2/enqueue",
    "ALERT_WEBHOOK_ENABLED": False,
    # Receives Alertmanager's webhook payload (version 4), so existing receivers work.
    "ALERT_WEBHOOK_URL": None,
    # Alerts posted to a Prometheus Alertmanager's API v2 (its base URL).
    "ALERT_ALERTMANAGER_ENABLED": False,
    "ALERT_ALERTMANAGER_URL": None,
    # Sender of alert emails (None: Django's DEFAULT_FROM_EMAIL).
    "ALERT_EMAIL_FROM": None,
    # Alert rules: {name: {field: value}}; a default rule's name overrides its fields
    # ({"enabled": False} disables it), any other name adds a rule (README, "Alerts").
    "ALERT_RULES": {},
    # Channels told about alerts of each severity (a rule's own "channels" wins).
    "ALERT_ROUTING": {
        "critical": ["pagerduty", "slack", "email", "webhook", "alertmanager"],
        "warning": ["slack", "email", "webhook", "alertmanager"],
        "info": ["alertmanager"],
    },
    # Channels: {name: {"CLASS": dotted path, "ENABLED": bool, option: value}}, merged over
    # the built-in email, slack, pagerduty and webhook channels.
    "ALERT_CHANNELS": {},
    # Seconds before a still-firing alert notifies again (a rule's "cooldown" wins).
    "ALERT_COOLDOWN": 3600,
    # Seconds a channel's HTTP request may take.
    "ALERT_HTTP_TIMEOUT": 10,
    # Hours a notification is retried before it is marked failed.
    "ALERT_DELIVERY_GIVE_UP_HOURS": 24,
    # Days of alert history (and delivered notifications) kept.
    "ALERT_HISTORY_RETENTION_DAYS": 90,
    # Regular expression on a process's command line that makes it one of the site's
    # processes (counted by the background service on each host).
    "SITE_PROCESS_PATTERN": r"gunicorn|uvicorn|uwsgi|daphne|hypercorn|runserver",
    # Where the runbooks of docs/runbooks/ are published (e.g. the repository's docs/runbooks
    # folder on your Git host): a rule without its own runbook_url links to BASE/<rule>.md.
    "RUNBOOK_BASE_URL": None,
    # The site's base URL (https://shop.example.com), for links in notifications.
    "SITE_URL": None,
    # The baseline (manage.py record_baseline) that the performance_regression rule
    # compares with; None: the most recently recorded one.
    "ACTIVE_BASELINE": None,
    # The performance report (manage.py monitoring_report) emailed by run_monitoring to
    # ALERT_EMAIL_RECIPIENTS: None (never), "daily" or "weekly".
    "REPORT_SCHEDULE": None,
    # How far back the scheduled report looks ("24h", "7d"; None: the schedule's period).
    "REPORT_PERIOD": None,
}

REPORT_SCHEDULES = {"daily": 86400, "weekly": 7 * 86400}

STORE_SCHEMES = ("database", "redis", "rediss", "memory")


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _csv(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _optional(raw: str) -> str | None:
    return raw.strip() or None


# Environment variable -> (config key, parser of the raw string).
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "MONITORING_STORE_URL": ("STORE_URL", str.strip),
    "MONITORING_HOST": ("HOST", _optional),
    "METRICS_RETENTION_HOURS": ("RETENTION_HOURS", float),
    "METRICS_COLLECTION_INTERVAL": ("COLLECTION_INTERVAL", float),
    "MONITORING_TOKEN": ("TOKEN", _optional),
    "MONITORING_ALLOWED_IPS": ("ALLOWED_IPS", _csv),
    "MONITORING_TRUSTED_PROXIES": ("TRUSTED_PROXIES", _csv),
    "ALERT_EMAIL_ENABLED": ("ALERT_EMAIL_ENABLED", _bool),
    "ALERT_EMAIL_RECIPIENTS": ("ALERT_EMAIL_RECIPIENTS", _csv),
    "ALERT_SLACK_ENABLED": ("ALERT_SLACK_ENABLED", _bool),
    "SLACK_WEBHOOK_URL": ("SLACK_WEBHOOK_URL", _optional),
    "ALERT_PAGERDUTY_ENABLED": ("ALERT_PAGERDUTY_ENABLED", _bool),
    "PAGERDUTY_ROUTING_KEY": ("PAGERDUTY_ROUTING_KEY", _optional),
    "PAGERDUTY_EVENTS_URL": ("PAGERDUTY_EVENTS_URL", str.strip),
    "ALERT_WEBHOOK_ENABLED": ("ALERT_WEBHOOK_ENABLED", _bool),
    "ALERT_WEBHOOK_URL": ("ALERT_WEBHOOK_URL", _optional),
    "ALERT_EMAIL_FROM": ("ALERT_EMAIL_FROM", _optional),
    "ALERT_ALERTMANAGER_ENABLED": ("ALERT_ALERTMANAGER_ENABLED", _bool),
    "ALERT_ALERTMANAGER_URL": ("ALERT_ALERTMANAGER_URL", _optional),
    "MONITORING_SITE_URL": ("SITE_URL", _optional),
    "MONITORING_RUNBOOK_BASE_URL": ("RUNBOOK_BASE_URL", _optional),
    "MONITORING_ACTIVE_BASELINE": ("ACTIVE_BASELINE", _optional),
}


@dataclass(frozen=True)
class Problem:
    """One invalid setting: which key, where it came from, and how to fix it."""

    id: str
    key: str
    source: str
    message: str
    hint: str


def _positive_number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return "must be a positive number"
    return None


def _positive_int(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return "must be a positive whole number"
    return None


def _store_url(value: Any) -> str | None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in STORE_SCHEMES:
        return f"has an unknown scheme; use one of {', '.join(s + '://' for s in STORE_SCHEMES)}"
    if parts.scheme == "database" and parts.netloc and parts.netloc not in settings.DATABASES:
        return f"names the database alias {parts.netloc!r}, which is not in DATABASES"
    if parts.scheme.startswith("redis"):
        try:
            import redis  # noqa: F401
        except ImportError:
            return "needs the redis package: pip install 'django-orm-monitoring[redis]'"
        if not parts.hostname:
            return "needs a host, as in redis://127.0.0.1:6379/0"
    return None


def _https_url(value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an http(s) URL such as https://hooks.slack.com/services/..."
    return None


def _networks(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return "must be a list of addresses or networks"
    for entry in value:
        try:
            ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            return f"has {entry!r}, which is not an address or network (e.g. 10.0.0.0/8)"
    return None


def _regexes(value: Any) -> str | None:
    if not isinstance(value, list | tuple):
        return "must be a list of regular expressions"
    for entry in value:
        try:
            re.compile(entry)
        except (re.error, TypeError):
            return f"has {entry!r}, which is not a valid regular expression"
    return None


def _regex(value: Any) -> str | None:
    return _regexes([value])


def _strings(value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return "must be a list of strings"
    return None


def _buckets(value: Any) -> str | None:
    ok = (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in value)
    )
    if not ok or list(value) != sorted(set(value)):
        return "must be a non-empty, strictly increasing list of non-negative numbers"
    return None


def _thresholds(value: Any) -> str | None:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and 0 < value[0] <= value[1] <= 100
    )
    return None if ok else "must be [degraded at, error at], percentages with the first <= second"


def _optional_aliases(value: Any) -> str | None:
    if value is None:
        return None
    problem = _strings(value)
    if problem is None:
        unknown = [alias for alias in value if alias not in settings.DATABASES]
        if unknown:
            return f"names database aliases not in DATABASES: {', '.join(unknown)}"
    return problem


def _ratings(value: Any) -> str | None:
    ok = isinstance(value, list | tuple) and all(
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and isinstance(pair[0], int | float)
        and not isinstance(pair[0], bool)
        and pair[0] > 0
        and isinstance(pair[1], str)
        for pair in value
    )
    bounds = [pair[0] for pair in value] if ok else []
    if not ok or bounds != sorted(set(bounds)):
        return 'must be [[p95 ms, "rating"], ...] with strictly increasing bounds'
    return None


def _dotted_paths(value: Any) -> str | None:
    problem = _strings(value)
    if problem is not None:
        return problem
    for path in value:
        problem = _dotted_path(path)
        if problem is not None:
            return problem
    return None


def _dotted_path(value: Any) -> str | None:
    if value is None:
        return None
    from django.utils.module_loading import import_string

    try:
        import_string(value)
    except (ImportError, TypeError):
        return f"cannot be imported: {value!r}"
    return None


def _accuracy(value: Any) -> str | None:
    if not isinstance(value, float) or not 0 < value < 0.5:
        return "must be a number between 0 and 0.5 (0.01 means 1%)"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _optional_string(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a string"


def _rule_table(value: Any) -> str | None:
    # The shape only; each rule's fields are checked by monitoring.alerts.rules (E022).
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(fields, dict) for name, fields in value.items()
    ):
        return 'must be {"rule name": {"field": value, ...}, ...}'
    return None


def _routing(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(severity, str) and _strings(names) is None for severity, names in value.items()
    ):
        return 'must be {"severity": ["channel name", ...], ...}'
    return None


def _channel_table(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and isinstance(options, dict) for name, options in value.items()
    ):
        return 'must be {"channel name": {"CLASS": "dotted.path", ...}, ...}'
    for name, options in value.items():
        problem = _dotted_path(options.get("CLASS"))
        if problem is not None:
            return f"has channel {name!r} whose CLASS {problem}"
    return None


def _schedule(value: Any) -> str | None:
    if value is None or value in REPORT_SCHEDULES:
        return None
    return f"must be None or one of {', '.join(map(repr, REPORT_SCHEDULES))}"


def _period(value: Any) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 60):
        return None
    try:
        if isinstance(value, str) and parse_duration(value) >= 60:
            return None
    except ValueError:
        pass
    return 'must be None, a duration of at least a minute ("24h", "7d") or seconds'


def _baseline_name(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and 0 < len(value) <= 100):
        return None
    return "must be None or a baseline's name (up to 100 characters)"


# Config key -> (check id, validator returning an error text or None).
VALIDATORS: dict[str, tuple[str, Callable[[Any], str | None]]] = {
    "STORE_URL": ("monitoring.E002", _store_url),
    "HOST": ("monitoring.E002", _optional_string),
    "STORE_BACKLOG_SECONDS": ("monitoring.E003", _positive_number),
    "RETENTION_HOURS": ("monitoring.E001", _positive_number),
    "COLLECTION_INTERVAL": ("monitoring.E003", _positive_number),
    "FLUSH_INTERVAL": ("monitoring.E003", _positive_number),
    "BUCKET_SECONDS": ("monitoring.E003", _positive_int),
    "SKETCH_RELATIVE_ACCURACY": ("monitoring.E004", _accuracy),
    "TOKEN": ("monitoring.E005", _optional_string),
    "ALLOWED_IPS": ("monitoring.E006", _networks),
    "TRUSTED_PROXIES": ("monitoring.E006", _networks),
    "EXCLUDE_PATHS": ("monitoring.E007", _regexes),
    "EXCLUDE_DATABASES": ("monitoring.E008", _strings),
    "EXCLUDE_CACHES": ("monitoring.E008", _strings),
    "SLOW_QUERY_MS": ("monitoring.E009", _positive_number),
    "N_PLUS_ONE_THRESHOLD": ("monitoring.E009", _positive_int),
    "CACHE_KEY_PREFIX_FUNCTION": ("monitoring.E010", _dotted_path),
    "MAX_ROUTES": ("monitoring.E011", _positive_int),
    "MAX_FINGERPRINTS": ("monitoring.E011", _positive_int),
    "MAX_CACHE_PREFIXES": ("monitoring.E011", _positive_int),
    "MAX_EXCEPTION_TYPES": ("monitoring.E011", _positive_int),
    "MAX_SLOW_QUERIES": ("monitoring.E011", _positive_int),
    "PROMETHEUS_TOP_FINGERPRINTS": ("monitoring.E011", _positive_int),
    "REQUEST_DURATION_BUCKETS": ("monitoring.E012", _buckets),
    "QUERY_DURATION_BUCKETS": ("monitoring.E012", _buckets),
    "QUERIES_PER_REQUEST_BUCKETS": ("monitoring.E012", _buckets),
    "CACHE_DURATION_BUCKETS": ("monitoring.E012", _buckets),
    "ALERT_EMAIL_ENABLED": ("monitoring.E013", _boolean),
    "ALERT_EMAIL_RECIPIENTS": ("monitoring.E013", _strings),
    "ALERT_SLACK_ENABLED": ("monitoring.E013", _boolean),
    "SLACK_WEBHOOK_URL": ("monitoring.E014", _https_url),
    "ALERT_PAGERDUTY_ENABLED": ("monitoring.E013", _boolean),
    "PAGERDUTY_ROUTING_KEY": ("monitoring.E013", _optional_string),
    "PAGERDUTY_EVENTS_URL": ("monitoring.E015", _https_url),
    "HEALTH_CHECK_TIMEOUT": ("monitoring.E003", _positive_number),
    "HEALTH_DISK_PATH": ("monitoring.E019", _optional_string),
    "HEALTH_DISK_THRESHOLDS": ("monitoring.E019", _thresholds),
    "HEALTH_MEMORY_THRESHOLDS": ("monitoring.E019", _thresholds),
    "HEALTH_CHECKS": ("monitoring.E020", _dotted_paths),
    "HEALTH_DATABASES": ("monitoring.E008", _optional_aliases),
    "PERFORMANCE_RATINGS": ("monitoring.E021", _ratings),
    "ALERT_WEBHOOK_ENABLED": ("monitoring.E013", _boolean),
    "ALERT_WEBHOOK_URL": ("monitoring.E014", _https_url),
    "ALERT_EMAIL_FROM": ("monitoring.E013", _optional_string),
    "ALERT_ALERTMANAGER_ENABLED": ("monitoring.E013", _boolean),
    "ALERT_ALERTMANAGER_URL": ("monitoring.E014", _https_url),
    "ALERT_RULES": ("monitoring.E022", _rule_table),
    "ALERT_ROUTING": ("monitoring.E023", _routing),
    "ALERT_CHANNELS": ("monitoring.E023", _channel_table),
    "ALERT_COOLDOWN": ("monitoring.E024", _positive_number),
    "ALERT_HTTP_TIMEOUT": ("monitoring.E024", _positive_number),
    "ALERT_DELIVERY_GIVE_UP_HOURS": ("monitoring.E024", _positive_number),
    "ALERT_HISTORY_RETENTION_DAYS": ("monitoring.E024", _positive_number),
    "SITE_URL": ("monitoring.E014", _https_url),
    "RUNBOOK_BASE_URL": ("monitoring.E014", _https_url),
    "SITE_PROCESS_PATTERN": ("monitoring.E007", _regex),
    "REPORT_SCHEDULE": ("monitoring.E027", _schedule),
    "REPORT_PERIOD": ("monitoring.E028", _period),
    "ACTIVE_BASELINE": ("monitoring.E029", _baseline_name),
}

UNPARSABLE_ENV = "monitoring.E016"
UNKNOWN_KEY = "monitoring.W001"


def _environment_for(key: str) -> str | None:
    return next((name for name, (k, _) in ENVIRONMENT.items() if k == key), None)


def _hint(key: str) -> str:
    env = _environment_for(key)
    default = DEFAULTS[key]
    where = f"MONITORING[{key!r}]" + (f" or the {env} environment variable" if env else "")
    return f"Fix {where}; the default is {default!r}."


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, Any], tuple[Problem, ...]]:
    user = getattr(settings, "MONITORING", None) or {}
    problems: list[Problem] = []
    if not isinstance(user, dict):
        problems.append(
            Problem(
                UNKNOWN_KEY,
                "MONITORING",
                "settings",
                "MONITORING must be a dict.",
                "Set MONITORING = {...}.",
            )
        )
        user = {}
    for key in sorted(set(user) - set(DEFAULTS)):
        problems.append(
            Problem(
                UNKNOWN_KEY,
                key,
                "settings",
                f"MONITORING has an unknown key {key!r}; it is ignored.",
                "Check the spelling against the settings reference.",
            )
        )
    merged: dict[str, tuple[Any, str]] = {k: (v, "default") for k, v in DEFAULTS.items()}
    merged.update({k: (v, "settings") for k, v in user.items() if k in DEFAULTS})
    for name, (key, parse) in ENVIRONMENT.items():
        raw = os.environ.get(name)
        if raw is None:
            continue
        try:
            merged[key] = (parse(raw), f"environment variable {name}")
        except ValueError:
            problems.append(
                Problem(
                    UNPARSABLE_ENV,
                    key,
                    f"environment variable {name}",
                    f"The environment variable {name} cannot be read as a "
                    f"value for {key}; the default is used.",
                    _hint(key),
                )
            )
    config: dict[str, Any] = {}
    for key, (value, source) in merged.items():
        check_id, validate = VALIDATORS[key]
        error = validate(value)
        if error is None:
            config[key] = value
            continue
        config[key] = DEFAULTS[key]
        problems.append(
            Problem(check_id, key, source, f"{key} (from {source}) {error}.", _hint(key))
        )
    return config, tuple(problems)


def get_config() -> dict[str, Any]:
    """Return the effective, validated settings (invalid values replaced by defaults)."""
    return _load()[0]


def config_problems() -> tuple[Problem, ...]:
    """Return every invalid or unknown setting found while loading the configuration."""
    return _load()[1]


def reload() -> None:
    """Forget the cached configuration (after settings or the environment changed)."""
    _load.cache_clear()
    for callback in _reload_callbacks:
        callback()


_reload_callbacks: list[Callable[[], None]] = []


def on_reload(callback: Callable[[], None]) -> Callable[[], None]:
    """Register a callback run whenever the configuration is reloaded."""
    _reload_callbacks.append(callback)
    return callback


@receiver(setting_changed)
def _settings_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("MONITORING", "CACHES", "DATABASES", "DEBUG"):
        reload()
