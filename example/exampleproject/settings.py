"""Settings of the example shop: SQLite, a local-memory cache and the monitoring quick start.

This project only ever runs on a developer's machine, bound to a loopback address.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# A fixed key is fine here: the example is never deployed.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-shop-demo-only-not-secret")
DEBUG = os.environ.get("DEBUG", "1").strip().lower() in {"1", "true", "yes", "on"}
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Monitoring: the README's quick start, verbatim.
INSTALLED_APPS += ["monitoring"]
MIDDLEWARE += [
    "monitoring.django_monitoring.QueryMonitoringMiddleware",
    "monitoring.django_monitoring.CacheMonitoringMiddleware",
]

# No MONITORING setting: metrics go to the default store, this site's own database, which
# every gunicorn worker of the demo shares.

ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Monitoring's own log lines (one per background-service cycle, store outages, delivery
# failures) on the console.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"monitoring": {"handlers": ["console"], "level": "INFO"}},
}

# Slows the product page down on purpose (milliseconds), to watch a regression against a
# recorded baseline: SHOP_PRODUCT_DELAY_MS=150 bash scripts/demo.sh
SHOP_PRODUCT_DELAY_MS = float(os.environ.get("SHOP_PRODUCT_DELAY_MS", "0") or 0)
