"""System checks for the monitoring settings: ``monitoring.E0NN`` errors, ``W0NN`` warnings.

Invalid values are found once, in ``config.py``; this module only reports them, and adds
the checks that look at several settings together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS

from .config import config_problems, get_config

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _only_loopback(entries: Sequence[str]) -> bool:
    networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]
    return all(
        any(net.version == lb.version and net.subnet_of(lb) for lb in LOOPBACK)  # type: ignore[arg-type]
        for net in networks
    )


# (switch, setting it needs, level, message, hint, id): a channel switched on without what
# it needs to send anything.
CHANNEL_NEEDS: tuple[tuple[str, str, Callable[..., CheckMessage], str, str, str], ...] = (
    ("ALERT_SLACK_ENABLED", "SLACK_WEBHOOK_URL", Error,
     "Slack alerts are enabled but no webhook URL is set.",
     "Set the SLACK_WEBHOOK_URL environment variable, or ALERT_SLACK_ENABLED=false.",
     "monitoring.E017"),
    ("ALERT_PAGERDUTY_ENABLED", "PAGERDUTY_ROUTING_KEY", Error,
     "PagerDuty alerts are enabled but no routing key is set.",
     "Set PAGERDUTY_ROUTING_KEY (an Events API v2 integration key), or "
     "ALERT_PAGERDUTY_ENABLED=false.",
     "monitoring.E018"),
    ("ALERT_WEBHOOK_ENABLED", "ALERT_WEBHOOK_URL", Error,
     "Webhook alerts are enabled but no URL is set.",
     "Set the ALERT_WEBHOOK_URL environment variable, or ALERT_WEBHOOK_ENABLED=false.",
     "monitoring.E025"),
    ("ALERT_ALERTMANAGER_ENABLED", "ALERT_ALERTMANAGER_URL", Error,
     "Alertmanager alerts are enabled but no Alertmanager URL is set.",
     "Set the ALERT_ALERTMANAGER_URL environment variable (e.g. http://alertmanager:9093), "
     "or ALERT_ALERTMANAGER_ENABLED=false.",
     "monitoring.E026"),
    ("ALERT_EMAIL_ENABLED", "ALERT_EMAIL_RECIPIENTS", Warning,
     "Email alerts are enabled but there are no recipients.",
     "Set ALERT_EMAIL_RECIPIENTS to a comma-separated list of addresses.",
     "monitoring.W004"),
)  # fmt: skip


def _channel_checks(cfg: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = [
        level(message, hint=hint, id=check_id)
        for switch, needed, level, message, hint, check_id in CHANNEL_NEEDS
        if cfg[switch] and not cfg[needed]
    ]
    if cfg["REPORT_SCHEDULE"] and not cfg["ALERT_EMAIL_RECIPIENTS"]:
        messages.append(
            Warning(
                f"A {cfg['REPORT_SCHEDULE']} performance report is scheduled but there are no "
                "recipients: it is never sent.",
                hint="Set ALERT_EMAIL_RECIPIENTS, or REPORT_SCHEDULE = None.",
                id="monitoring.W007",
            )
        )
    return messages


def _access_checks(cfg: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    networks = [ipaddress.ip_network(e, strict=False) for e in cfg["ALLOWED_IPS"]]
    if any(net.prefixlen == 0 for net in networks):
        messages.append(
            Warning(
                "ALLOWED_IPS admits every address, so anyone can read the monitoring endpoints.",
                hint="List the Prometheus and load-balancer networks instead, or use a token.",
                id="monitoring.W003",
            )
        )
    if not settings.DEBUG and not cfg["TOKEN"] and _only_loopback(cfg["ALLOWED_IPS"]):
        messages.append(
            Warning(
                "No MONITORING_TOKEN and no IP allowlist beyond this host: in production only "
                "staff users and local processes can read the metrics, so a Prometheus on "
                "another host cannot scrape them.",
                hint="Set the MONITORING_TOKEN environment variable (a long random string) and "
                "configure it as the scrape job's bearer token, or set MONITORING_ALLOWED_IPS.",
                id="monitoring.W002",
            )
        )
    return messages


def _store_checks(cfg: dict[str, Any]) -> list[CheckMessage]:
    parts = urlsplit(cfg["STORE_URL"])
    if parts.scheme != "database":
        return []
    database: Any = settings.DATABASES.get(parts.netloc or DEFAULT_DB_ALIAS, {})
    name = str(database.get("NAME", ""))
    in_memory = (
        name in ("", ":memory:") or name.startswith("file::memory:") or "mode=memory" in name
    )
    if database.get("ENGINE", "").endswith("sqlite3") and in_memory:
        return [
            Warning(
                "The metric store is an in-memory SQLite database: every thread and process "
                "gets a database of its own, so the flusher's writes are never seen by "
                "the endpoints.",
                hint="Give the database a file NAME, or set MONITORING_STORE_URL to redis:// "
                "or memory://.",
                id="monitoring.W005",
            )
        ]
    return []


MIDDLEWARE_NAMES = (
    "monitoring.django_monitoring.QueryMonitoringMiddleware",
    "monitoring.django_monitoring.CacheMonitoringMiddleware",
    "monitoring.django_monitoring.RequestTimingMiddleware",
)


def _middleware_checks() -> list[CheckMessage]:
    if any(name in (settings.MIDDLEWARE or ()) for name in MIDDLEWARE_NAMES):
        return []
    return [
        Warning(
            "No monitoring middleware is in MIDDLEWARE: requests are not recorded (queries "
            "and cache operations are, under the route <no-request>).",
            hint="Add 'monitoring.django_monitoring.QueryMonitoringMiddleware' and "
            "'monitoring.django_monitoring.CacheMonitoringMiddleware' to MIDDLEWARE.",
            id="monitoring.W006",
        )
    ]


def _alert_checks(cfg: dict[str, Any]) -> list[CheckMessage]:
    from .alerts.rules import rule_errors
    from .channels import channel_options

    messages: list[CheckMessage] = [
        Error(
            str(error),
            hint=f"Fix MONITORING['ALERT_RULES'][{error.rule!r}][{error.field!r}] "
            "(the README's Alerts section lists the fields, metrics and operators).",
            id="monitoring.E022",
        )
        for error in rule_errors(cfg)
    ]
    known = channel_options(cfg)
    for severity, names in cfg["ALERT_ROUTING"].items():
        for name in names:
            if name not in known:
                messages.append(
                    Error(
                        f"ALERT_ROUTING sends {severity} alerts to {name!r}, which is not a "
                        "channel.",
                        hint=f"Use one of {', '.join(known)}, or define {name!r} in "
                        "MONITORING['ALERT_CHANNELS'].",
                        id="monitoring.E023",
                    )
                )
    return messages


@register(Tags.compatibility, "monitoring")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report every invalid monitoring setting, with a hint on how to fix it."""
    messages: list[CheckMessage] = []
    for problem in config_problems():
        level = Warning if problem.id.startswith("monitoring.W") else Error
        messages.append(level(problem.message, hint=problem.hint, id=problem.id))
    cfg = get_config()
    messages += _channel_checks(cfg)
    messages += _access_checks(cfg)
    messages += _store_checks(cfg)
    messages += _alert_checks(cfg)
    messages += _middleware_checks()
    return messages
