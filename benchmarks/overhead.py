"""Per-request time added by monitoring, next to django-prometheus, on the example shop.

Run from the repository root (django-prometheus must be installed: ``pip install -e .[bench]``)::

    python benchmarks/overhead.py [--rounds 15] [--requests 300] [--chunk 20] [--clock cpu]

What it measures
    One process serves the example shop (``example/``, app ``shop``) in three
    configurations, each with its own ``WSGIHandler``:

    * ``plain``: Django's usual middleware, ``sqlite3`` engine, ``LocMemCache``;
    * ``ours``: plain plus monitoring's documented wire-up (``QueryMonitoringMiddleware``,
      ``CacheMonitoringMiddleware`` appended); database alias and cache ``ours``
      instrumented, the flusher thread running with its default 10 s interval;
    * ``django-prometheus``: as its README says -- ``PrometheusBeforeMiddleware`` first,
      ``PrometheusAfterMiddleware`` last, its SQLite engine and its ``LocMemCache``.

    All three use the same SQLite file (persistent connections) and differ only in the
    aliases a router and ``caches["default"]`` point them at (see ``bench_settings.py``,
    ``bench_routing.py``). Requests are WSGI environs from ``RequestFactory``, handed
    directly to ``handler(environ, start_response)``; the body is consumed and the response
    closed. No network, no test client.

    Timed views: ``/health-of-shop/`` (no query, no cache), ``/products/`` (the catalogue),
    ``/products/<pk>/`` (one product) and ``/bench/5-queries-4-cache-ops/<pk>/``, a
    benchmark-only view (``bench_views.py``) doing exactly 5 ORM queries and 4 cache
    operations per request (checked at run time).

How
    Machines are noisy, so the baseline runs in the same process, alternating with the
    others. Each round serves, for every view, ``--requests`` requests through each
    configuration, interleaved: ``--chunk`` requests of one configuration, then of the next,
    in an order that rotates from chunk to chunk and from round to round, so that the three
    share the same stretch of time. Per round, view and configuration the mean time per
    request is recorded. The tables show the median over rounds of each configuration's
    mean, and the added time as the median over rounds of the paired difference
    (configuration minus plain in the same round), with half the interquartile range of
    those differences after ``±``. A garbage collection runs before each chunk, after what
    the set-up created was frozen (``gc.freeze``).

    Times are taken with two clocks: the CPU time of the whole process
    (``time.process_time``, including the flusher thread; not counting the time other
    processes of a busy machine take) for the main tables (``--clock cpu``, the default),
    and the wall clock (``--clock wall`` swaps them). The work is CPU-bound (SQLite on a
    local file, local-memory caches), so both measure the same thing on a quiet machine.

    A second table times single operations the same way, inside a recorded request: an
    ORM-style ``cursor()`` + ``execute("SELECT 1")``, ``cache.get`` (a hit) and
    ``cache.set`` -- the cost per query and per cache operation.

    Before the rounds and after each one, one request per view and configuration is checked:
    only its own database alias receives queries; our recorder sees the ``ours`` queries and
    cache operations and nothing from the other two; django-prometheus's counters
    (``django_db_execute_total``, ``django_cache_get_total``, its request counter) grow only
    for ``prom``; the shop's cached view stores its key in the configuration's own cache.
    A failed check ends the run with exit status 1.

    The goal: our added time at most 1/5 of django-prometheus's (the last column <= 0.20).
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from time import perf_counter, process_time

import harness

GOAL_RATIO = 0.2
CLOCKS = {"cpu": "CPU time of the process", "wall": "wall-clock time"}
HEADER = (
    f"{'view':<36} {'q':>2} {'c':>2} {'plain µs':>9} {'ours µs':>9} {'ours +µs':>14} "
    f"{'ours +%':>8} {'d-p µs':>9} {'d-p +µs':>14} {'d-p +%':>8} {'ours/d-p':>8}  goal"
)


@dataclass
class Samples:
    """Per-round mean times of one measured item, by configuration."""

    by_config: dict[str, list[harness.Timing]] = field(
        default_factory=lambda: {c: [] for c in harness.CONFIGS}
    )

    def values(self, config: str, clock: str) -> list[float]:
        return [getattr(timing, clock) for timing in self.by_config[config]]

    def median(self, config: str, clock: str) -> float:
        return statistics.median(self.values(config, clock))

    def added(self, config: str, clock: str) -> tuple[float, float]:
        """Median and half-IQR of the per-round difference ``config`` minus ``plain``."""
        pairs = zip(self.values(config, clock), self.values("plain", clock), strict=True)
        diffs = [a - b for a, b in pairs]
        spread = 0.0
        if len(diffs) >= 2:
            q1, _, q3 = statistics.quantiles(diffs, n=4)
            spread = (q3 - q1) / 2
        return statistics.median(diffs), spread


# -- single operations --------------------------------------------------------------------


def _query_loop(config: str, count: int) -> harness.Timing:
    from django.db import connections

    connection = connections[config]
    wall, cpu = perf_counter(), process_time()
    for _ in range(count):
        with connection.cursor() as cursor:  # one cursor per statement, as the ORM does
            cursor.execute("SELECT %s", [1])
            cursor.fetchone()
    return harness.Timing.of(wall, cpu, count)


def _cache_get_loop(config: str, count: int) -> harness.Timing:
    from django.core.cache import cache

    cache.set("bench:op", 1, 300)
    wall, cpu = perf_counter(), process_time()
    for _ in range(count):
        cache.get("bench:op")
    return harness.Timing.of(wall, cpu, count)


def _cache_set_loop(config: str, count: int) -> harness.Timing:
    from django.core.cache import cache

    wall, cpu = perf_counter(), process_time()
    for _ in range(count):
        cache.set("bench:op", 1, 300)
    return harness.Timing.of(wall, cpu, count)


OPERATIONS: dict[str, Callable[[str, int], harness.Timing]] = {
    "query (cursor + SELECT 1)": _query_loop,
    "cache.get (hit)": _cache_get_loop,
    "cache.set": _cache_set_loop,
}


def time_operation(
    loop: Callable[[str, int], harness.Timing], config: str, count: int
) -> harness.Timing:
    """Mean time of one operation of ``loop`` with ``config``, inside a recorded request."""
    from monitoring.recording.context import RequestState, current_state

    harness.use_config(config)
    token = current_state.set(RequestState())  # as during a request (ignored by the others)
    try:
        gc.collect()
        return loop(config, count)
    finally:
        current_state.reset(token)


# -- rounds -------------------------------------------------------------------------------


def run_round(
    site: harness.Site,
    number: int,
    args: argparse.Namespace,
    views: dict[str, Samples],
    ops: dict[str, Samples],
) -> None:
    """One round: every view, then every operation, the configurations interleaved."""
    for index, view in enumerate(site.views):
        run = harness.view_runner(site, view.path, args.requests)
        means = harness.interleaved(run, args.requests, args.chunk, number + index)
        for config, timing in means.items():
            views[view.route].by_config[config].append(timing)
    for index, (name, loop) in enumerate(OPERATIONS.items()):
        means = harness.interleaved(
            partial(time_operation, loop), args.operations, 10 * args.chunk, number + index
        )
        for config, timing in means.items():
            ops[name].by_config[config].append(timing)


def _ratio(ours: float, prom: float, prom_spread: float) -> tuple[str, str]:
    """Our added time over django-prometheus's, and the goal's verdict.

    "n/a" when django-prometheus adds nothing measurable (not more than its spread).
    """
    if prom <= 0 or prom <= prom_spread:
        return "n/a", "n/a"
    ratio = ours / prom
    return f"{ratio:.2f}", "met" if ratio <= GOAL_RATIO else "NOT met"


def _pct(added: float, base: float) -> str:
    return f"{100 * added / base:+.1f}%" if base > 0 else "n/a"


def view_row(
    route: str, samples: Samples, clock: str, queries: int, cache_ops: int
) -> tuple[str, bool]:
    """The table row of one view, and whether it meets the goal."""
    plain = samples.median("plain", clock)
    ours, ours_spread = samples.added("ours", clock)
    prom, prom_spread = samples.added("prom", clock)
    ratio, goal = _ratio(ours, prom, prom_spread)
    row = (
        f"{route:<36} {queries:>2} {cache_ops:>2} {plain:>9.1f} "
        f"{samples.median('ours', clock):>9.1f} {f'{ours:+.1f} ±{ours_spread:.1f}':>14} "
        f"{_pct(ours, plain):>8} {samples.median('prom', clock):>9.1f} "
        f"{f'{prom:+.1f} ±{prom_spread:.1f}':>14} {_pct(prom, plain):>8} {ratio:>8}  {goal}"
    )
    return row, goal == "met"


def view_table(
    site: harness.Site, verified: harness.Verified, views: dict[str, Samples], clock: str
) -> list[bool]:
    """Print the per-view table for ``clock``; return, per view, whether the goal is met."""
    print(HEADER)
    print("-" * len(HEADER))
    goals = []
    for view in site.views:
        queries, cache_ops = verified.queries[view.route], verified.cache_ops[view.route]
        row, met = view_row(view.route, views[view.route], clock, queries, cache_ops)
        goals.append(met)
        print(row)
    return goals


def operation_table(ops: dict[str, Samples], clock: str) -> None:
    header = f"{'operation':<28} {'plain µs':>9} {'ours +µs':>14} {'d-p +µs':>14} {'ours/d-p':>8}"
    print(header)
    print("-" * len(header))
    for name, samples in ops.items():
        ours, ours_spread = samples.added("ours", clock)
        prom, prom_spread = samples.added("prom", clock)
        print(
            f"{name:<28} {samples.median('plain', clock):>9.2f} "
            f"{f'{ours:+.2f} ±{ours_spread:.2f}':>14} {f'{prom:+.2f} ±{prom_spread:.2f}':>14} "
            f"{_ratio(ours, prom, prom_spread)[0]:>8}"
        )


def report(
    site: harness.Site,
    verified: harness.Verified,
    views: dict[str, Samples],
    ops: dict[str, Samples],
    args: argparse.Namespace,
) -> None:
    other = next(c for c in CLOCKS if c != args.clock)
    print(
        f"\nPer-request {CLOCKS[args.clock]}: median over {args.rounds} round(s) of "
        f"{args.requests} requests per view and configuration (µs)."
    )
    print("q = ORM queries, c = cache operations per request; d-p = django-prometheus;")
    print("+µs = median of the per-round paired difference to plain (± half its IQR).\n")
    goals = view_table(site, verified, views, args.clock)
    print()
    print(
        f"Goal: ours at most 1/5 of django-prometheus's added time (ours/d-p <= {GOAL_RATIO:.2f})"
        f": met on {sum(goals)} of {len(goals)} views ({CLOCKS[args.clock]})."
    )
    print(
        f"\nPer operation inside a request ({CLOCKS[args.clock]}): median over rounds of "
        f"{args.operations} operations (µs). django-prometheus counts cache reads only."
    )
    operation_table(ops, args.clock)
    print(f"\nThe same requests in {CLOCKS[other]} (µs), for comparison:\n")
    view_table(site, verified, views, other)
    print()
    operation_table(ops, other)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    parser.add_argument(
        "--requests", type=int, default=300, help="requests per view, configuration and round"
    )
    parser.add_argument(
        "--warmup", type=int, default=50, help="untimed requests per view and configuration"
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=20,
        help="requests served in a row by one configuration before the next one takes "
        "over (default 20; operations: 10 x this)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="clock of the main tables: cpu (the process's CPU time, default: what other "
        "processes on a busy machine take is not counted) or wall",
    )
    parser.add_argument(
        "--operations",
        type=int,
        default=None,
        help="operations per configuration and round in the per-operation table "
        "(default: 10 x --requests)",
    )
    args = parser.parse_args(argv)
    if min(args.rounds, args.requests, args.chunk) < 1 or args.warmup < 0:
        parser.error("--rounds, --requests and --chunk must be at least 1, --warmup at least 0")
    if args.operations is None:
        args.operations = 10 * args.requests
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    site = harness.setup()
    import django
    import django_prometheus

    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"django-prometheus {django_prometheus.__version__}, {platform.machine()}; "
        f"{args.rounds} rounds x {args.requests} requests"
    )
    bench_view = site.views[-1]
    harness.warm_up(site, args.warmup)
    verified = harness.verify(site, bench_view)
    print("verified before the rounds: each configuration reaches only its own aliases")
    views = {view.route: Samples() for view in site.views}
    ops = {name: Samples() for name in OPERATIONS}
    for number in range(args.rounds):
        started = perf_counter()
        run_round(site, number, args, views, ops)
        harness.verify(site, bench_view)
        print(
            f"round {number + 1}/{args.rounds} done in {perf_counter() - started:.1f} s, verified",
            flush=True,
        )
    report(site, verified, views, ops, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
