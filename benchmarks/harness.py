"""What ``overhead.py`` and ``profile_hot_path.py`` share: the site, its handlers, its checks.

:func:`setup` configures Django with ``bench_settings``, migrates and seeds a fresh SQLite
file, and builds one ``WSGIHandler`` per configuration (each keeps the middleware chain it
was built with). Requests are WSGI environs from ``RequestFactory``, passed straight to
``handler(environ, start_response)``; the body is consumed and the response closed, as a
WSGI server does. :func:`verify` proves that each configuration's requests reached only
that configuration's database alias, cache and instrumentation.
"""

from __future__ import annotations

import gc
import io
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from time import perf_counter, process_time
from typing import Any

import django

CONFIGS = ("plain", "ours", "prom")
LABELS = {"plain": "plain", "ours": "ours", "prom": "django-prometheus"}
ALIASES = ("default", "plain", "ours", "prom")


@dataclass(frozen=True)
class View:
    """A timed view: its label (the route) and its path for one product."""

    route: str
    path: str


@dataclass
class Site:
    handlers: dict[str, Any]
    views: list[View]
    product_pk: int


@dataclass(frozen=True)
class Timing:
    """Mean microseconds per item: wall clock, and CPU time of the whole process."""

    wall: float
    cpu: float

    @classmethod
    def of(cls, wall_start: float, cpu_start: float, count: int) -> Timing:
        """The mean since ``perf_counter()`` was ``wall_start`` and ``process_time()`` was
        ``cpu_start``, over ``count`` items."""
        cpu = process_time() - cpu_start
        wall = perf_counter() - wall_start
        return cls(wall=wall * 1e6 / count, cpu=cpu * 1e6 / count)


# -- set-up -------------------------------------------------------------------------------


def setup() -> Site:
    """Configure Django, create and seed the database, build the three handlers."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"  # wins over an inherited one
    django.setup()

    from django.core.management import call_command

    from monitoring.config import config_problems
    from shop.models import Product

    problems = config_problems()
    if problems:
        raise SystemExit("MONITORING settings rejected: " + "; ".join(p.message for p in problems))
    call_command("migrate", database="default", verbosity=0, interactive=False)
    call_command("seed_shop", stdout=io.StringIO())
    pk = Product.objects.order_by("pk").values_list("pk", flat=True).first()
    if pk is None:
        raise SystemExit("seed_shop created no product")
    views = [
        View("/health-of-shop/", "/health-of-shop/"),
        View("/products/", "/products/"),
        View("/products/<pk>/", f"/products/{pk}/"),
        View("/bench/5-queries-4-cache-ops/<pk>/", f"/bench/5-queries-4-cache-ops/{pk}/"),
    ]
    return Site(handlers=build_handlers(), views=views, product_pk=pk)


def build_handlers() -> dict[str, Any]:
    import bench_settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    handlers = {}
    for name in CONFIGS:
        with override_settings(MIDDLEWARE=list(bench_settings.BENCH_MIDDLEWARE[name])):
            handlers[name] = WSGIHandler()  # loads its middleware chain now, once
    return handlers


def use_config(name: str) -> None:
    import bench_routing

    bench_routing.use_config(name)


# -- requests -----------------------------------------------------------------------------


def environs(path: str, count: int) -> list[dict[str, Any]]:
    """``count`` fresh GET environs for ``path``, built before any timing starts."""
    from django.test import RequestFactory

    factory = RequestFactory()
    return [factory.get(path).environ for _ in range(count)]


def _write(data: bytes) -> None:
    pass


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return _write


def serve(handler: Any, environ: dict[str, Any]) -> int:
    """One request through ``handler``, as a WSGI server does it; returns the status."""
    response = handler(environ, _start_response)
    try:
        for _chunk in response:
            pass
    finally:
        response.close()  # sends request_finished
    return response.status_code


def timed_batch(site: Site, config: str, batch: list[dict[str, Any]]) -> Timing:
    """Serve ``batch`` with ``config``'s handler; return the mean time per request."""
    handler = site.handlers[config]
    use_config(config)
    gc.collect()
    wall, cpu = perf_counter(), process_time()
    for environ in batch:
        serve(handler, environ)
    return Timing.of(wall, cpu, len(batch))


def rotated(items: tuple[str, ...], shift: int) -> tuple[str, ...]:
    shift %= len(items)
    return items[shift:] + items[:shift]


# -- verification -------------------------------------------------------------------------


@dataclass
class Observed:
    """What one request of one configuration did, seen from every side."""

    status: int
    queries: dict[str, int]  # alias -> statements sent (CaptureQueriesContext)
    ours: Counter[tuple[str, str]] = field(default_factory=Counter)  # our recorder's calls
    prom: Counter[tuple[str, str]] = field(default_factory=Counter)  # django-prometheus deltas


@contextmanager
def _counting_recorder() -> Iterator[Counter[tuple[str, str]]]:
    """Count our recorder's calls by kind and alias, for as long as the block runs."""
    from monitoring.runtime import get_recorder

    recorder = get_recorder()
    counts: Counter[tuple[str, str]] = Counter()

    def wrap(name: str, key: Callable[..., tuple[str, str]]) -> None:
        original = getattr(recorder, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            counts[key(*args)] += 1
            return original(*args, **kwargs)

        setattr(recorder, name, counted)

    names = ("record_query", "record_cache_operation", "record_cache_get", "record_request")
    wrap("record_query", lambda alias, *rest: ("query", alias))
    wrap("record_cache_operation", lambda alias, *rest: ("cache_op", alias))
    wrap("record_cache_get", lambda alias, *rest: ("cache_op", alias))
    wrap("record_request", lambda *rest: ("request", ""))
    try:
        yield counts
    finally:
        for name in names:
            vars(recorder).pop(name, None)


def _prometheus_counts() -> Counter[tuple[str, str]]:
    """django-prometheus's query, cache-read and request counters, by alias or backend."""
    from prometheus_client import REGISTRY

    wanted = {
        "django_db_execute_total": ("query", "alias"),
        "django_cache_get_total": ("cache_get", "backend"),
        "django_http_requests_before_middlewares_total": ("request", ""),
    }
    counts: Counter[tuple[str, str]] = Counter()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name in wanted:
                kind, label = wanted[sample.name]
                counts[(kind, sample.labels.get(label, ""))] += sample.value
    return counts


def observe(site: Site, config: str, path: str) -> Observed:
    """Serve one request of ``path`` with ``config`` and record everything it touched."""
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    use_config(config)
    environ = environs(path, 1)[0]
    prom_before = _prometheus_counts()
    with ExitStack() as stack:
        captures = {a: stack.enter_context(CaptureQueriesContext(connections[a])) for a in ALIASES}
        ours = stack.enter_context(_counting_recorder())
        status = serve(site.handlers[config], environ)
    prom = _prometheus_counts()
    prom.subtract(prom_before)
    return Observed(
        status=status,
        queries={alias: len(capture) for alias, capture in captures.items()},
        ours=+ours,
        prom=+prom,  # unary + drops the zero entries
    )


def _expect_ours(config: str, seen: Observed, problems: list[str]) -> None:
    if config != "ours":
        if seen.ours:
            problems.append(f"our recorder saw {dict(seen.ours)}")
        return
    expected = Counter({("request", ""): 1, ("query", "ours"): seen.queries["ours"]})
    recorded = Counter({k: v for k, v in seen.ours.items() if k[0] != "cache_op"})
    if recorded != +expected:
        problems.append(f"our recorder saw {dict(seen.ours)}, expected {dict(+expected)}")
    if any(kind == "cache_op" and alias != "ours" for kind, alias in seen.ours):
        problems.append(f"our recorder saw cache operations elsewhere: {dict(seen.ours)}")


def _expect_prom(config: str, seen: Observed, problems: list[str]) -> None:
    if config != "prom":
        if seen.prom:
            problems.append(f"django-prometheus counted {dict(seen.prom)}")
        return
    if seen.prom[("request", "")] != 1:
        problems.append(f"django-prometheus counted {seen.prom[('request', '')]} requests")
    queries = {alias for kind, alias in seen.prom if kind == "query"}
    if seen.prom[("query", "prom")] != seen.queries["prom"] or queries - {"prom"}:
        problems.append(f"django-prometheus counted queries {dict(seen.prom)}")


def check(config: str, seen: Observed) -> list[str]:
    """What is wrong with one observed request of ``config`` (nothing, normally)."""
    problems: list[str] = []
    if seen.status != 200:
        problems.append(f"status {seen.status}")
    elsewhere = {alias: n for alias, n in seen.queries.items() if alias != config and n}
    if elsewhere:
        problems.append(f"queries on other aliases: {elsewhere}")
    _expect_ours(config, seen, problems)
    _expect_prom(config, seen, problems)
    return problems


def _cache_placement(site: Site, config: str) -> list[str]:
    """Run the shop's cached view with ``config``; its key must land in that cache only."""
    from django.core.cache import caches

    from monitoring.recording.context import muted

    key = f"product:{site.product_pk}"
    with muted():  # our own look-ups must not count as the site's
        for alias in CONFIGS:
            caches[alias].delete(key)
    seen = observe(site, config, f"/products/{site.product_pk}/cached/")
    problems = check(config, seen)
    if config == "prom" and seen.prom[("cache_get", "locmem")] < 1:
        problems.append("django-prometheus's cache counted no get")
    if config == "ours" and seen.ours[("cache_op", "ours")] < 1:
        problems.append("our recorder saw no cache operation on cache 'ours'")
    with muted():
        holders = [alias for alias in CONFIGS if caches[alias].has_key(key)]
    if holders != [config]:
        problems.append(f"the cached view stored its key in {holders}, expected [{config!r}]")
    return problems


@dataclass
class Verified:
    """Per view, what one request does (from the ``ours`` configuration)."""

    queries: dict[str, int]
    cache_ops: dict[str, int]


def verify(site: Site, bench_view: View) -> Verified:
    """Raise SystemExit unless every configuration reached only its own aliases."""
    problems: list[str] = []
    verified = Verified(queries={}, cache_ops={})
    for config in CONFIGS:
        for view in site.views:
            seen = observe(site, config, view.path)
            problems += [f"{config} {view.route}: {p}" for p in check(config, seen)]
            if config == "ours":
                verified.queries[view.route] = seen.queries["ours"]
                verified.cache_ops[view.route] = seen.ours[("cache_op", "ours")]
            gets = seen.prom[("cache_get", "locmem")]
            if config == "prom" and view == bench_view and gets != 2:
                problems.append(f"prom {view.route}: django-prometheus counted {gets} gets, not 2")
        problems += [f"{config} cached view: {p}" for p in _cache_placement(site, config)]
    q, c = verified.queries[bench_view.route], verified.cache_ops[bench_view.route]
    if (q, c) != (5, 4):
        problems.append(f"{bench_view.route} did {q} queries and {c} cache ops, not 5 and 4")
    if problems:
        raise SystemExit("verification failed:\n  " + "\n  ".join(problems))
    return verified


def warm_up(site: Site, count: int, configs: Iterable[str] = CONFIGS) -> None:
    """Serve every view ``count`` times per configuration (imports, caches, connections).

    Then freezes what exists (Django, the apps, the seeded site) out of the garbage
    collector's reach, so the collections before each timed batch stay short.
    """
    for config in configs:
        for view in site.views:
            timed_batch(site, config, environs(view.path, max(count, 1)))
    gc.collect()
    gc.freeze()


def interleaved(
    run: Callable[[str, int], Timing], total: int, chunk: int, shift: int
) -> dict[str, Timing]:
    """``total`` items per configuration, in chunks of ``chunk``, configurations alternating.

    ``run(config, n)`` times ``n`` items of ``config``. The order of the configurations
    rotates from chunk to chunk (starting at ``shift``), so all three share the same
    stretch of time and a slow moment of the machine falls on each of them alike. Returns
    each configuration's mean over its ``total`` items.
    """
    sums = {config: [0.0, 0.0] for config in CONFIGS}
    for number, begin in enumerate(range(0, total, chunk)):
        size = min(chunk, total - begin)
        for config in rotated(CONFIGS, shift + number):
            timing = run(config, size)
            sums[config][0] += timing.wall * size
            sums[config][1] += timing.cpu * size
    return {c: Timing(wall=w / total, cpu=cpu / total) for c, (w, cpu) in sums.items()}


def view_runner(site: Site, path: str, total: int) -> Callable[[str, int], Timing]:
    """A ``run`` for :func:`interleaved`: the next ``n`` of ``total`` fresh requests."""
    batches = {config: environs(path, total) for config in CONFIGS}
    served = dict.fromkeys(CONFIGS, 0)

    def run(config: str, count: int) -> Timing:
        begin = served[config]
        served[config] = begin + count
        return timed_batch(site, config, batches[config][begin : begin + count])

    return run
