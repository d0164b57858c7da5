"""Settings of the processes the fleet tests start (gunicorn workers, store writers).

Everything that differs between runs comes from the environment:
``FLEET_SQLITE`` (the site's SQLite file), ``FLEET_METRICS_SQLITE`` (an optional second
SQLite file, database alias ``metrics``), ``FLEET_PG_NAME`` (an optional PostgreSQL
database, alias ``pg``), ``MONITORING_STORE_URL``, ``FLEET_FLUSH_INTERVAL``,
``FLEET_ALERT_CHANNELS`` and ``FLEET_ALERT_RULES`` (JSON of ``ALERT_CHANNELS`` and
``ALERT_RULES``); alert channels otherwise by their own environment variables.
"""

import json
import os

from tests.settings import *  # noqa: F403
from tests.settings import MYSQL, PG

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["FLEET_SQLITE"]}
}
if os.environ.get("FLEET_METRICS_SQLITE"):
    DATABASES["metrics"] = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["FLEET_METRICS_SQLITE"],
    }
if os.environ.get("FLEET_PG_NAME"):
    DATABASES["pg"] = {**PG, "NAME": os.environ["FLEET_PG_NAME"]}
if os.environ.get("FLEET_MYSQL_NAME"):
    DATABASES["mysql"] = {**MYSQL, "NAME": os.environ["FLEET_MYSQL_NAME"]}

MONITORING = {
    "FLUSH_INTERVAL": float(os.environ.get("FLEET_FLUSH_INTERVAL", "1")),
    "ALERT_CHANNELS": json.loads(os.environ.get("FLEET_ALERT_CHANNELS", "{}")),
    "ALERT_RULES": json.loads(os.environ.get("FLEET_ALERT_RULES", "{}")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"monitoring": {"handlers": ["stderr"], "level": "INFO", "propagate": False}},
}
