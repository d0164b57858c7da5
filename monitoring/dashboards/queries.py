"""The PromQL behind each panel of the Grafana dashboard.

Only the metric names of SPEC section 6 and the per-statement series of
``monitoring.exposition`` appear here. Grafana fills in ``$instance``, ``$route``,
``$__rate_interval`` and ``$__range``. Every ratio divides by a denominator filtered to
``> 0`` so that an idle route shows a gap instead of NaN, and every numerator that may be
absent (no 5xx yet, a prefix that only missed) falls back to 0.
"""

from __future__ import annotations

HTTP = 'route=~"$route", instance=~"$instance"'
HOST = 'instance=~"$instance"'
SLOW_QUERY_ROWS = 10


def rate(metric: str, selector: str) -> str:
    """``rate()`` of ``metric{selector}`` over Grafana's rate interval."""
    return f"rate({metric}{{{selector}}}[$__rate_interval])"


def quantile(q: float, histogram: str, selector: str) -> str:
    """The ``q`` quantile of a histogram over every label but ``le``."""
    return f"histogram_quantile({q}, sum by (le) ({rate(histogram + '_bucket', selector)}))"


def request_quantile(q: float) -> str:
    return quantile(q, "django_http_request_duration_seconds", HTTP)


def query_quantile(q: float) -> str:
    return quantile(q, "django_db_query_duration_seconds", HOST)


REQUEST_RATE = f"sum({rate('django_http_requests_total', HTTP)})"
REQUEST_RATE_BY_ROUTE = f"sum by (route) ({rate('django_http_requests_total', HTTP)})"
_ERRORS = rate("django_http_requests_total", HTTP + ', status=~"5.."')
ERROR_SHARE = f"(sum({_ERRORS}) or vector(0)) / ({REQUEST_RATE} > 0)"
QUERIES_PER_REQUEST = (
    f"sum by (route) ({rate('django_db_queries_per_request_sum', HTTP)})"
    f" / (sum by (route) ({rate('django_db_queries_per_request_count', HTTP)}) > 0)"
)
_HITS = rate("django_cache_gets_total", HOST + ', result="hit"')
_GETS = rate("django_cache_gets_total", HOST)
CACHE_HIT_RATE = f"(sum({_HITS}) or vector(0)) / (sum({_GETS}) > 0)"
CACHE_HIT_RATE_BY_PREFIX = (
    f"(sum by (prefix) ({_HITS}) or sum by (prefix) ({_GETS}) * 0)"
    f" / (sum by (prefix) ({_GETS}) > 0)"
)
# Fleet-wide values every host reports alike: the worst (or largest) one, not a sum.
HEALTH_SCORE = f"min(monitoring_health_score{{{HOST}}})"
ALERTS_FIRING = f"max by (severity) (monitoring_alerts_firing{{{HOST}}})"


def _increase(metric: str, selector: str) -> str:
    return f"sum by (fingerprint) (increase({metric}{{{selector}}}[$__range]))"


_SECONDS = _increase("django_db_fingerprint_duration_seconds_total", HOST)
_QUERIES = _increase("django_db_fingerprint_queries_total", HOST)
# The statements that took the most time in the range ("other" is not one statement).
_NAMED = HOST + ', fingerprint!="other"'
_TOP = (
    f"topk({SLOW_QUERY_ROWS}, "
    f"{_increase('django_db_fingerprint_duration_seconds_total', _NAMED)} > 0)"
)
# Over the whole range: the info row of a statement is present while it runs, and hosts
# report the same text, so the max per fingerprint is one row to join on.
_INFO = (
    "max by (fingerprint, statement, operation) "
    f"(max_over_time(django_db_fingerprint_info{{{HOST}}}[$__range]))"
)


def _with_statement(expr: str) -> str:
    return f"({expr}) * on (fingerprint) group_left (statement, operation) {_INFO}"


SLOW_TOTAL_SECONDS = _with_statement(_TOP)
SLOW_QUERIES = _with_statement(f"{_QUERIES} and on (fingerprint) {_TOP}")
SLOW_MEAN_SECONDS = _with_statement(f"({_SECONDS} / ({_QUERIES} > 0)) and on (fingerprint) {_TOP}")

INSTANCES = "label_values(django_http_requests_total, instance)"
ROUTES = 'label_values(django_http_requests_total{instance=~"$instance"}, route)'
