"""The catalogue of recorded series: internal name, kind, labels and Prometheus name.

The recorder writes series under these names; the exposition renders the ones that have
a ``prometheus`` name. Label order here is the order of the label tuple in a series key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter", "histogram" or "maximum"
    labels: tuple[str, ...]
    help: str
    prometheus: str | None = None
    buckets: str | None = None  # the config key holding the histogram bounds
    sketch: bool = True  # histograms: keep a quantile sketch besides the bucket counts


REQUESTS = Metric(
    "requests",
    "counter",
    ("method", "route", "status"),
    "HTTP requests by method, route pattern and status code.",
    "django_http_requests_total",
)
REQUEST_DURATION = Metric(
    "request_duration",
    "histogram",
    ("method", "route"),
    "Time to produce the response, in seconds.",
    "django_http_request_duration_seconds",
    "REQUEST_DURATION_BUCKETS",
)
EXCEPTIONS = Metric(
    "exceptions",
    "counter",
    ("route", "exception"),
    "Unhandled exceptions raised by views, by route and exception class.",
    "django_http_exceptions_total",
)
QUERY_DURATION = Metric(
    "query_duration",
    "histogram",
    ("alias", "operation"),
    "ORM and raw SQL query duration, in seconds.",
    "django_db_query_duration_seconds",
    "QUERY_DURATION_BUCKETS",
    # Derived from the fingerprint series when a bucket is drained (one record per query).
    sketch=False,
)
QUERIES_PER_REQUEST = Metric(
    "queries_per_request",
    "histogram",
    ("route",),
    "Database queries issued while serving one request.",
    "django_db_queries_per_request",
    "QUERIES_PER_REQUEST_BUCKETS",
)
DB_ERRORS = Metric(
    "db_errors",
    "counter",
    ("alias", "error"),
    "Database errors (query failures and connection failures) by alias and class.",
    "django_db_errors_total",
)
DB_CONNECTION_ERRORS = Metric(
    "db_connection_errors",
    "counter",
    ("alias", "reason"),
    "Failures to obtain a database connection: refused, timeout, pool_exhausted or other.",
    "django_db_connection_errors_total",
)
# Every reason a connection can fail for (recording/db.py classifies them).
CONNECTION_ERROR_REASONS = ("refused", "timeout", "pool_exhausted", "too_many", "other")
SLOW_QUERIES = Metric(
    "slow_queries",
    "counter",
    ("alias", "route"),
    "Queries slower than SLOW_QUERY_MS.",
    "django_db_slow_queries_total",
)
N_PLUS_ONE = Metric(
    "n_plus_one",
    "counter",
    ("route", "fingerprint"),
    "Requests in which one statement repeated at least N_PLUS_ONE_THRESHOLD times.",
    "django_db_n_plus_one_requests_total",
)
N_PLUS_ONE_MAX = Metric(
    "n_plus_one_max",
    "maximum",
    ("route", "fingerprint"),
    "Most repetitions of one statement within one request.",
)
FINGERPRINT_DURATION = Metric(
    "fingerprint_duration",
    "histogram",
    ("alias", "operation", "fingerprint"),
    "Duration of each normalised statement, in seconds.",
    None,
    "QUERY_DURATION_BUCKETS",
)
FINGERPRINT_ROUTES = Metric(
    "fingerprint_routes",
    "counter",
    ("fingerprint", "route"),
    "Executions of each normalised statement by route.",
)
CACHE_GETS = Metric(
    "cache_gets",
    "counter",
    ("cache", "prefix", "result"),
    "Cache reads by cache alias, key prefix and result (hit or miss).",
    "django_cache_gets_total",
)
CACHE_OPERATION_DURATION = Metric(
    "cache_operation_duration",
    "histogram",
    ("cache", "operation"),
    "Cache operation duration, in seconds.",
    "django_cache_operation_duration_seconds",
    "CACHE_DURATION_BUCKETS",
)
CACHE_ROUTE_GETS = Metric(
    "cache_route_gets",
    "counter",
    ("route", "result"),
    "Cache reads by the route that issued them.",
)
LABEL_OVERFLOW = Metric(
    "label_overflow",
    "counter",
    ("label",),
    'Label values folded into "other" because a label reached its bound.',
    "monitoring_label_overflow_total",
)
DROPPED_RECORDS = Metric(
    "dropped_records",
    "counter",
    (),
    "Records dropped because the flusher fell too far behind (memory bound reached).",
    "monitoring_dropped_records_total",
)
STORE_WRITE_ERRORS = Metric(
    "store_write_errors",
    "counter",
    (),
    "Flushes to the metric store that failed (kept in memory and retried).",
    "monitoring_store_write_errors_total",
)
STORE_LOST_REQUESTS = Metric(
    "store_lost_requests",
    "counter",
    (),
    "Requests whose records were given up because the store stayed unreachable.",
    "monitoring_store_lost_requests_total",
)
SYSTEM = Metric(
    "system",
    "maximum",
    ("host", "resource"),
    "Host resources sampled by the background service, the highest sample of a bucket: "
    "cpu, memory and disk (percent), load1, site_processes.",
)

ALL = (
    REQUESTS,
    REQUEST_DURATION,
    EXCEPTIONS,
    QUERY_DURATION,
    QUERIES_PER_REQUEST,
    DB_ERRORS,
    DB_CONNECTION_ERRORS,
    SLOW_QUERIES,
    N_PLUS_ONE,
    N_PLUS_ONE_MAX,
    FINGERPRINT_DURATION,
    FINGERPRINT_ROUTES,
    CACHE_GETS,
    CACHE_OPERATION_DURATION,
    CACHE_ROUTE_GETS,
    LABEL_OVERFLOW,
    DROPPED_RECORDS,
    STORE_WRITE_ERRORS,
    STORE_LOST_REQUESTS,
    SYSTEM,
)
BY_NAME = {metric.name: metric for metric in ALL}

UNMATCHED_ROUTE = "<unmatched>"
NO_REQUEST_ROUTE = "<no-request>"
OTHER = "other"
