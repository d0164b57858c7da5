"""Settings of the overhead benchmark: one site, three configurations side by side.

The configurations share one SQLite file and one URL configuration and differ only in the
database alias, cache alias and middleware chain they use:

* ``plain``: Django's usual middleware, ``django.db.backends.sqlite3``, ``LocMemCache``;
* ``ours``: the same plus monitoring's documented wire-up (its two middleware appended);
  only the database alias ``ours`` and the cache alias ``ours`` are instrumented by us;
* ``prom``: django-prometheus as its README says (its middleware first and last, its
  SQLite engine and its ``LocMemCache``).

``bench_routing`` sends every ORM query and every ``django.core.cache.cache`` call of a view
to the aliases of the configuration being measured. Used by ``overhead.py`` and
``profile_hot_path.py``; never by a deployed site.
"""

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# The example shop (app "shop") and the benchmark's own modules.
for _path in (REPO_DIR, REPO_DIR / "example", BENCH_DIR):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

_TMP_DIR = tempfile.mkdtemp(prefix="monitoring-bench-")
atexit.register(shutil.rmtree, _TMP_DIR, ignore_errors=True)
DB_FILE = str(Path(_TMP_DIR) / "bench.sqlite3")

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False  # DEBUG would keep every query in connection.queries
ALLOWED_HOSTS = ["testserver"]  # RequestFactory's host
USE_TZ = True
ROOT_URLCONF = "bench_urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "shop",
    "monitoring",
    "django_prometheus",
]

# The usual middleware of a Django project; the handlers are built with the chains below.
PLAIN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
# Monitoring's documented wire-up: its two classes appended.
OURS_MIDDLEWARE = [
    *PLAIN_MIDDLEWARE,
    "monitoring.django_monitoring.QueryMonitoringMiddleware",
    "monitoring.django_monitoring.CacheMonitoringMiddleware",
]
# django-prometheus's README: its "before" middleware first, its "after" middleware last.
PROM_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *PLAIN_MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
BENCH_MIDDLEWARE = {"plain": PLAIN_MIDDLEWARE, "ours": OURS_MIDDLEWARE, "prom": PROM_MIDDLEWARE}
MIDDLEWARE = PLAIN_MIDDLEWARE


def _sqlite(engine: str) -> dict[str, object]:
    # Persistent connections (as most production sites run): a request does not pay for
    # opening SQLite, which would only add noise that is the same for every configuration.
    return {"ENGINE": engine, "NAME": DB_FILE, "CONN_MAX_AGE": None}


DATABASES = {
    "default": _sqlite("django.db.backends.sqlite3"),  # migrations and seeding only
    "plain": _sqlite("django.db.backends.sqlite3"),
    "ours": _sqlite("django.db.backends.sqlite3"),
    "prom": _sqlite("django_prometheus.db.backends.sqlite3"),
}
DATABASE_ROUTERS = ["bench_routing.ConfigRouter"]

_LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
CACHES = {
    # Never used by a view: bench_routing points caches["default"] at the current
    # configuration's cache object. Distinct LOCATIONs keep the four stores apart.
    "default": {"BACKEND": _LOCMEM, "LOCATION": "bench-default"},
    "plain": {"BACKEND": _LOCMEM, "LOCATION": "bench-plain"},
    "ours": {"BACKEND": _LOCMEM, "LOCATION": "bench-ours"},
    "prom": {
        "BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache",
        "LOCATION": "bench-prom",
    },
}

MONITORING = {
    "STORE_URL": "memory://",
    "FLUSH_INTERVAL": 10,  # the default, stated: the flusher thread runs as in production
    # Only the alias "ours" (database and cache) is instrumented by monitoring. "default" is
    # excluded for caches too, so that no cache object but "ours" is ever wrapped.
    "EXCLUDE_DATABASES": ["default", "plain", "prom"],
    "EXCLUDE_CACHES": ["default", "plain", "prom"],
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
