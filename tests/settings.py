"""Settings for the test suite: SQLite plus a real PostgreSQL server on 127.0.0.1."""

import os

import django
import pymysql

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "shop",
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# The wire-up of the README's quick start, verbatim.
INSTALLED_APPS += ["monitoring"]
MIDDLEWARE += [
    "monitoring.django_monitoring.QueryMonitoringMiddleware",
    "monitoring.django_monitoring.CacheMonitoringMiddleware",
]

PG = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("MONITORING_TEST_PG_NAME", "test"),
    "USER": os.environ.get("MONITORING_TEST_PG_USER", "postgres"),
    "PASSWORD": os.environ.get("MONITORING_TEST_PG_PASSWORD", ""),
    "HOST": os.environ.get("MONITORING_TEST_PG_HOST", "127.0.0.1"),
    "PORT": os.environ.get("MONITORING_TEST_PG_PORT", "5432"),
    # A name of this run's own, so that two test runs on one server never collide.
    "TEST": {
        "NAME": "test_monitoring_" + os.environ.get("MONITORING_TEST_RUN_ID", "local"),
        "DEPENDENCIES": [],
    },
}
# MariaDB/MySQL through PyMySQL standing in for mysqlclient (no C build needed).
pymysql.install_as_MySQLdb()
MYSQL = {
    "ENGINE": "django.db.backends.mysql",
    "NAME": os.environ.get("MONITORING_TEST_MYSQL_NAME", "test"),
    "USER": os.environ.get("MONITORING_TEST_MYSQL_USER", "root"),
    "PASSWORD": os.environ.get("MONITORING_TEST_MYSQL_PASSWORD", ""),
    "HOST": os.environ.get("MONITORING_TEST_MYSQL_HOST", "127.0.0.1"),
    "PORT": os.environ.get("MONITORING_TEST_MYSQL_PORT", "3306"),
    "OPTIONS": {"charset": "utf8mb4", "connect_timeout": 5},
    "TEST": {
        "NAME": "test_monitoring_" + os.environ.get("MONITORING_TEST_RUN_ID", "local"),
        "DEPENDENCIES": [],
    },
}
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "pg": PG,
    "mysql": MYSQL,
}
if django.VERSION >= (5, 1):
    # A deliberately tiny pool so that tests can exhaust it.
    DATABASES["pgpool"] = {
        **PG,
        "OPTIONS": {"pool": {"min_size": 0, "max_size": 1, "timeout": 0.5}},
        "TEST": {"MIRROR": "pg", "DEPENDENCIES": []},
    }

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "second": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "second",
    },
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

MONITORING = {"STORE_URL": "memory://"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"monitoring": {"handlers": ["null"], "level": "INFO", "propagate": True}},
}
