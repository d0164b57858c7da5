"""Notification channels, configured like Django's ``CACHES``: a name, a class, options.

The four built-in channels take their options from the flat settings (and so from the
environment variables of SPEC §3); ``MONITORING['ALERT_CHANNELS']`` overrides their
options or adds channels of the site's own by dotted path.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.utils.module_loading import import_string

from .. import config
from .base import Channel, DeliveryError, Message

__all__ = ["Channel", "DeliveryError", "Message", "channel_options", "enabled", "get_channel"]

# name -> (class, setting that enables it, {option: setting})
BUILTIN: dict[str, tuple[str, str, dict[str, str]]] = {
    "email": (
        "monitoring.channels.email.EmailChannel",
        "ALERT_EMAIL_ENABLED",
        {"RECIPIENTS": "ALERT_EMAIL_RECIPIENTS", "FROM": "ALERT_EMAIL_FROM"},
    ),
    "slack": (
        "monitoring.channels.slack.SlackChannel",
        "ALERT_SLACK_ENABLED",
        {"URL": "SLACK_WEBHOOK_URL"},
    ),
    "pagerduty": (
        "monitoring.channels.pagerduty.PagerDutyChannel",
        "ALERT_PAGERDUTY_ENABLED",
        {"ROUTING_KEY": "PAGERDUTY_ROUTING_KEY", "EVENTS_URL": "PAGERDUTY_EVENTS_URL"},
    ),
    "webhook": (
        "monitoring.channels.webhook.WebhookChannel",
        "ALERT_WEBHOOK_ENABLED",
        {"URL": "ALERT_WEBHOOK_URL"},
    ),
    "alertmanager": (
        "monitoring.channels.alertmanager.AlertmanagerChannel",
        "ALERT_ALERTMANAGER_ENABLED",
        {"URL": "ALERT_ALERTMANAGER_URL"},
    ),
}


def channel_options(cfg: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every channel's options (``CLASS``, ``ENABLED``, ``TIMEOUT``, its own), enabled or not."""
    cfg = config.get_config() if cfg is None else cfg
    found: dict[str, dict[str, Any]] = {}
    for name, (path, switch, options) in BUILTIN.items():
        found[name] = {
            "CLASS": path,
            "ENABLED": cfg[switch],
            **{option: cfg[key] for option, key in options.items()},
        }
    for name, overrides in cfg["ALERT_CHANNELS"].items():
        found[name] = {"ENABLED": True, **found.get(name, {}), **overrides}
    for options in found.values():
        options.setdefault("TIMEOUT", cfg["ALERT_HTTP_TIMEOUT"])
    return found


def enabled() -> list[str]:
    """Names of the channels that are switched on."""
    return [name for name, options in channel_options().items() if options.get("ENABLED")]


@cache
def get_channel(name: str) -> Channel:
    """The channel called ``name``, built from the current configuration.

    Raises ``KeyError`` for a name no channel has.
    """
    options = channel_options()[name]
    cls = import_string(options["CLASS"])
    channel: Channel = cls(name, options)
    return channel


config.on_reload(get_channel.cache_clear)
