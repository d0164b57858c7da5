"""Every query of the Grafana dashboard, run by a real Prometheus scraping the example shop.

The module starts, once: the example shop under gunicorn (3 workers, a SQLite file of its
own, ``MONITORING_TOKEN`` set and no address allowed, so the token is the only way in),
Debian's ``prometheus`` scraping it every second with the scrape job the README shows (and
copies of it without ``params``, so in OpenMetrics, and with a wrong token), and the
example's traffic generator. Every
process listens on 127.0.0.1 and is stopped at the end, killed if it does not stop.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "monitoring" / "dashboards" / "grafana_django_orm.json"
TOKEN = "prometheus-scrape-token-for-tests"
# What Grafana puts in place of its variables; 15 s holds 15 one-second scrapes.
VARIABLES = {
    "$__rate_interval": "15s",
    "$__interval": "5s",
    "$__range": "5m",
    "$instance": ".*",
    "$route": ".*",
}
# The README's scrape job, verbatim but for the job name, the target and the token.
SCRAPE_JOB = """\
  - job_name: {job}
    metrics_path: /monitoring/metrics/
    params:
      format: [prometheus]
    authorization:
      credentials: {token}
    static_configs:
      - targets: ["{target}"]
"""
SETTINGS = """\
import os

from exampleproject.settings import *  # noqa: F403

DEBUG = False
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["SITE_DB"]}}
# Flush every second, and let nobody in by address: scrapes must carry the token. Fewer
# statements with series of their own than the shop issues, so that "other" is used.
MONITORING = {"FLUSH_INTERVAL": 1, "ALLOWED_IPS": [], "PROMETHEUS_TOP_FINGERPRINTS": 5}
"""


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def stop(process: subprocess.Popen[bytes], seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process has not ended within ``seconds``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(seconds)


def started(process: subprocess.Popen[bytes], up: Callable[[], bool], what: str) -> None:
    """Wait (60 s at most) until ``up()``; stop ``process`` if it never comes up."""
    try:
        wait_until(up, 60, what)
    except BaseException:
        stop(process)
        raise


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    """GET from 127.0.0.1 without any proxy."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def require_prometheus() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed (Debian package prometheus)")
        pytest.skip("prometheus is not installed; scripts/test.sh installs it")
    return found


class Shop:
    """The example shop under gunicorn on a free port, with its database migrated and seeded."""

    def __init__(self, workdir: Path) -> None:
        (workdir / "prometheus_site_settings.py").write_text(SETTINGS)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO), str(REPO / "example")]),
            "DJANGO_SETTINGS_MODULE": "prometheus_site_settings",
            "SITE_DB": str(workdir / "site.sqlite3"),
            "MONITORING_TOKEN": TOKEN,
        }
        for command in (["migrate", "--noinput", "-v", "0"], ["seed_shop"]):
            done = subprocess.run(
                [sys.executable, "-m", "django", *command],
                cwd=REPO, env=self.env, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "gunicorn.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "exampleproject.wsgi:application",
                 "--workers", "3", "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5"],
                cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        started(self.process, self._up, "gunicorn to answer")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log.read_text()}")
        try:
            return get(f"{self.url}/monitoring/healthz/")[0] == 200
        except OSError:
            return False

    def traffic(self, seconds: int) -> subprocess.Popen[bytes]:
        """The example's traffic generator, stopping by itself after ``seconds``."""
        command = ["generate_traffic", "--base-url", self.url, "--duration", str(seconds)]
        return subprocess.Popen(
            [sys.executable, str(REPO / "example" / "manage.py"), *command],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip


class Prometheus:
    """A real Prometheus scraping ``target`` every second: the README's job, the same job
    without ``params`` (OpenMetrics) and the same job with a wrong token."""

    def __init__(self, binary: str, workdir: Path, target: str) -> None:
        jobs = SCRAPE_JOB.format(job="django", token=TOKEN, target=target)
        jobs += SCRAPE_JOB.format(job="wrong-token", token="not-the-token", target=target)
        # Without ?format=, Prometheus's Accept header gets OpenMetrics.
        openmetrics = SCRAPE_JOB.format(job="openmetrics", token=TOKEN, target=target)
        jobs += openmetrics.replace("    params:\n      format: [prometheus]\n", "")
        config = workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "prometheus.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                cwd=workdir, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        started(self.process, self._ready, "prometheus to be ready")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log.read_text()}")
        try:
            return get(f"{self.url}/-/ready")[0] == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        status, body = get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        reply = json.loads(body)
        assert status == 200 and reply["status"] == "success", (path, params, reply)
        return reply["data"]

    def targets(self) -> dict[str, dict[str, Any]]:
        return {t["labels"]["job"]: t for t in self.api("targets")["activeTargets"]}

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return list(data["result"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shop, Prometheus]]:
    binary = require_prometheus()
    workdir = tmp_path_factory.mktemp("prometheus-real")
    shop = Shop(workdir)
    started: list[subprocess.Popen[bytes]] = [shop.process]
    try:
        prometheus = Prometheus(binary, workdir, f"127.0.0.1:{shop.port}")
        started.insert(0, prometheus.process)
        # Stopped at the end, or by itself after 120 s.
        started.insert(0, shop.traffic(120))
        yield shop, prometheus
    finally:
        for process in started:  # traffic, then Prometheus, then the site
            stop(process)


def panel_queries() -> list[tuple[str, str]]:
    """(panel title and refId, PromQL with Grafana's variables filled in) of every target."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable in sorted(VARIABLES, key=len, reverse=True):
                expr = expr.replace(variable, VARIABLES[variable])
            assert "$" not in expr, expr
            found.append((f"{panel['title']} [{target['refId']}]", expr))
    return found


def finite_series(result: list[dict[str, Any]]) -> int:
    """How many series ``result`` has, 0 when empty or when any value is not finite."""
    values = [float(sample["value"][1]) for sample in result]
    return len(values) if values and all(math.isfinite(v) for v in values) else 0


def check_the_token(shop: Shop, prometheus: Prometheus) -> None:
    """The jobs with the token scrape (text and OpenMetrics); a wrong token gets a 401."""

    def scraped() -> bool:
        targets = prometheus.targets()
        # "unknown" until a job's first scrape.
        jobs = ("django", "openmetrics", "wrong-token")
        return [targets[job]["health"] if job in targets else "" for job in jobs] == [
            "up",
            "up",
            "down",
        ]

    wait_until(scraped, 60, "the right token to be let in and the wrong one turned away")
    wrong = prometheus.targets()["wrong-token"]
    assert "401" in wrong["lastError"], wrong["lastError"]
    url = f"{shop.url}/monitoring/metrics/?format=prometheus"
    assert get(url, token="not-the-token")[0] == 401
    assert get(url)[0] == 401  # loopback is not enough here: ALLOWED_IPS is empty


def check_the_variables(prometheus: Prometheus) -> None:
    """The instance and route variables' label_values() queries find values."""

    def values(label: str, match: str) -> list[str]:
        return list(prometheus.api(f"label/{label}/values", **{"match[]": match}))

    wait_until(lambda: bool(values("route", "django_http_requests_total")), 60, "routes")
    assert values("instance", "django_http_requests_total")
    routes = values("route", 'django_http_requests_total{instance=~".*"}')
    assert "/products/<int:pk>/" in routes


def check_the_panels(prometheus: Prometheus) -> None:
    """Every panel query returns series with finite values; prints how many per query."""
    queries = panel_queries()
    counts: dict[str, int] = {}

    def all_answered() -> bool:
        counts.update({title: finite_series(prometheus.query(expr)) for title, expr in queries})
        return all(counts.values())

    try:
        wait_until(all_answered, 120, "every panel query to return finite data")
    finally:
        width = max(len(title) for title, _ in queries)
        print("\npanel query".ljust(width + 1), "series")
        for title, _ in queries:
            print(title.ljust(width), counts.get(title, "-"))
    rows = prometheus.query(queries[-1][1])  # the slow-query table's last query
    assert 0 < len(rows) <= 5  # PROMETHEUS_TOP_FINGERPRINTS
    for row in rows:
        assert row["metric"]["statement"] and row["metric"]["fingerprint"] != "other", row
    assert prometheus.query('django_db_fingerprint_queries_total{fingerprint="other"} > 0')

    def info_from_both_formats() -> bool:
        found = prometheus.query("count by (job) (django_db_fingerprint_info)")
        return {row["metric"]["job"] for row in found} == {"django", "openmetrics"}

    wait_until(info_from_both_formats, 30, "info rows from the text and OpenMetrics scrapes")


def test_prometheus_scrapes_the_site_and_every_panel_has_data(
    stack: tuple[Shop, Prometheus],
) -> None:
    # One test, so that pytest-xdist cannot start the stack once per worker.
    shop, prometheus = stack
    check_the_token(shop, prometheus)
    check_the_variables(prometheus)
    check_the_panels(prometheus)
