"""Profile monitoring's hot path: the ``ours`` configuration of the 5-query/4-cache view.

Run from the repository root::

    python benchmarks/profile_hot_path.py [--requests 1000] [--top 25]

Serves ``/bench/5-queries-4-cache-ops/<pk>/`` (exactly 5 ORM queries and 4 cache
operations per request, see ``bench_views.py``) through the ``ours`` handler of the overhead
benchmark's site (``harness.py``: Django's usual middleware plus monitoring's two, the
database alias and cache ``ours`` instrumented) under cProfile, then prints:

* the share of the profiled time spent in monitoring's own code (its functions' tottime);
* how many Python function calls one request makes in each configuration (plain, ours,
  django-prometheus) -- unlike times, call counts do not depend on how busy the machine is;
* the ``--top`` functions of the ``monitoring`` package by cumulative time.

cProfile inflates small, frequent calls, so read the ranking, not the absolute times;
``overhead.py`` gives the real cost.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from time import perf_counter

import harness


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=1000, help="profiled requests")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.top < 1 or args.warmup < 0:
        parser.error("--requests and --top must be at least 1, --warmup at least 0")
    return args


def calls_per_request(site: harness.Site, config: str, path: str, count: int = 100) -> float:
    """How many Python function calls one request of ``path`` makes with ``config``."""
    batch = harness.environs(path, count)
    handler = site.handlers[config]
    harness.use_config(config)
    profiler = cProfile.Profile()
    profiler.enable()
    for environ in batch:
        harness.serve(handler, environ)
    profiler.disable()
    return pstats.Stats(profiler).total_calls / count  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    site = harness.setup()
    import monitoring

    view = site.views[-1]
    harness.verify(site, view)  # the view does 5 queries and 4 cache ops; routing is right
    harness.warm_up(site, args.warmup)
    calls = {config: calls_per_request(site, config, view.path) for config in harness.CONFIGS}
    batch = harness.environs(view.path, args.requests)
    handler = site.handlers["ours"]
    harness.use_config("ours")

    profiler = cProfile.Profile()
    started = perf_counter()
    profiler.enable()
    for environ in batch:
        harness.serve(handler, environ)
    profiler.disable()
    elapsed = perf_counter() - started

    package = str(Path(monitoring.__file__).resolve().parent) + "/"
    stats = pstats.Stats(profiler, stream=sys.stdout)
    own = sum(
        tottime
        for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
        if filename.startswith(package)
    )
    total = stats.total_tt  # type: ignore[attr-defined]
    print(
        f"ours, {view.route}: {args.requests} requests under cProfile in {elapsed:.2f} s "
        f"({elapsed * 1e6 / args.requests:.0f} µs per request with profiling)"
    )
    print(
        f"time in monitoring's own code (tottime of functions in {package}): "
        f"{own * 1e3:.1f} ms of {total * 1e3:.1f} ms profiled ({100 * own / total:.1f}%), "
        f"{own * 1e6 / args.requests:.1f} µs per request"
    )
    extra = {c: f" (+{n - calls['plain']:.0f})" if c != "plain" else "" for c, n in calls.items()}
    listed = ", ".join(f"{harness.LABELS[c]} {n:.0f}{extra[c]}" for c, n in calls.items())
    print(f"function calls per request (deterministic, unlike times): {listed}")
    print(f"\nTop {args.top} functions of the monitoring package by cumulative time:")
    stats.sort_stats("cumulative").print_stats("^" + re.escape(package), args.top)
    profile_flush(args.requests, args.top)
    return 0


def profile_flush(requests: int, top: int) -> None:
    """Profile the flusher's share: aggregating the events of those requests, off their time."""
    from monitoring import runtime

    profiler = cProfile.Profile()
    profiler.enable()
    runtime.flush()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(
        f"\nThe flusher thread's aggregation of those {requests} requests' events (not in "
        f"their response time): {total * 1e3:.1f} ms profiled, {total * 1e6 / requests:.1f} µs "
        f"per request"
    )
    stats.sort_stats("tottime").print_stats(top // 2)


if __name__ == "__main__":
    sys.exit(main())
