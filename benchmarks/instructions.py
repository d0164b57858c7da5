"""Instructions added per request, counted by valgrind's callgrind: repeatable on a noisy machine.

Run from the repository root (valgrind installed; takes a few minutes)::

    python benchmarks/instructions.py [--views trivial,bench] [--small 100 --large 600]

For each configuration of ``overhead.py`` (plain, ours, django-prometheus) and view, it
runs ``harness`` in a child process under ``valgrind --tool=callgrind`` twice, serving
``--small`` and then ``--large`` requests and then flushing once (so the aggregation of
every recorded event is counted), and divides the difference in executed instructions by
the difference in requests: set-up cost cancels out, and the figure does not depend on
what else the machine is doing. It prints instructions per request and the
added instructions of ours and of django-prometheus over plain, and their ratio.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = ("plain", "ours", "prom")
VIEWS = {"trivial": "/health-of-shop/", "bench": "/bench/5-queries-4-cache-ops/<pk>/"}

CHILD = """
import sys
sys.path[:0] = [{here!r}, {root!r}, {example!r}]
import bench_settings
# Under valgrind everything runs ~50 times slower, so a 10 s flush interval would flush ~50
# times as often per request as in production; flush once, explicitly, at the end instead.
bench_settings.MONITORING["FLUSH_INTERVAL"] = 3600
import harness
config, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
site = harness.setup()
if "<pk>" in path:
    path = path.replace("<pk>", str(site.product_pk))
harness.warm_up(site, 20)
batch = harness.environs(path, n)
harness.use_config(config)
handler = site.handlers[config]
for environ in batch:
    harness.serve(handler, environ)
from monitoring import runtime
runtime.flush()  # aggregate every recorded event: counted with the requests that made it
"""


def instructions(config: str, path: str, requests: int) -> int:
    """Instructions executed by a child serving ``requests`` requests (set-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(
            CHILD.format(
                here=str(HERE), root=str(HERE.parent), example=str(HERE.parent / "example")
            )
        )
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                str(script),
                config,
                path,
                str(requests),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    match = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run failed for {config} {path}:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def per_request(config: str, path: str, small: int, large: int) -> float:
    return (instructions(config, path, large) - instructions(config, path, small)) / (
        large - small
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", default="trivial,bench")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=600)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian package valgrind)")
    views = [VIEWS[name] for name in args.views.split(",")]
    jobs = [(config, path) for path in views for config in CONFIGS]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        counts = dict(
            zip(
                jobs,
                pool.map(lambda job: per_request(job[0], job[1], args.small, args.large), jobs),
                strict=True,
            )
        )
    print("Instructions per request (callgrind; difference of two runs, set-up excluded)")
    print(f"{'view':38s}{'plain':>12s}{'ours +':>12s}{'d-p +':>12s}{'ours/d-p':>10s}")
    for path in views:
        plain = counts[("plain", path)]
        ours = counts[("ours", path)] - plain
        prom = counts[("prom", path)] - plain
        ratio = ours / prom if prom > 0 else float("nan")
        print(f"{path:38s}{plain:12,.0f}{ours:+12,.0f}{prom:+12,.0f}{ratio:10.2f}")


if __name__ == "__main__":
    main()
