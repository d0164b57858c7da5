"""Many processes, one store: real gunicorn workers and concurrent writers, counted exactly.

Each test starts what it needs on 127.0.0.1: gunicorn with several workers serving
``tests.wsgi`` (settings ``tests.fleet_settings``), SQLite files, a PostgreSQL database
of its own, and for the outage test a ``redis-server`` of its own that it kills and
restarts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import REDIS_STORE_URL, free_port, redis_prefix, require_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FLUSH_INTERVAL = 0.5


def fleet_env(tmp_path: Path, store_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "example")]),
        "DJANGO_SETTINGS_MODULE": "tests.fleet_settings",
        "FLEET_SQLITE": str(tmp_path / "site.sqlite3"),
        "FLEET_FLUSH_INTERVAL": str(FLUSH_INTERVAL),
        "MONITORING_STORE_URL": store_url,
        **extra,
    }
    return env


def migrate(env: dict[str, str], database: str = "default") -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--database", database, "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Site:
    """A gunicorn serving the test project on a port of its own."""

    def __init__(self, env: dict[str, str], log: Path, *args: str, workers: int = 3) -> None:
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "tests.wsgi:application",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "10",
                *args,
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w"),
        )
        wait_until(self._up, 60, "gunicorn to answer")

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log.read_text()}")
        try:
            return self.get("/monitoring/healthz/")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def hammer(self, path: str, n: int, concurrency: int = 20) -> list[tuple[int, float]]:
        """Send ``n`` requests, ``concurrency`` at a time: (status, seconds) of each."""

        def one(_: int) -> tuple[int, float]:
            started = time.perf_counter()
            status, _ = self.get(path)
            return status, time.perf_counter() - started

        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(one, range(n)))

    def prometheus(self) -> dict[str, float]:
        """Every sample of the Prometheus exposition, by name and labels."""
        status, body = self.get("/monitoring/metrics/?format=prometheus")
        assert status == 200, body
        samples = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}"] = sample.value
        return samples

    def counted(self, route: str = "/t/plain/") -> tuple[float, float]:
        """Requests to ``route``: (Prometheus total of this host, JSON 1 h window)."""
        prometheus = sum(
            value
            for name, value in self.prometheus().items()
            if name.startswith("django_http_requests_total{") and f"route={route}," in name
        )
        status, body = self.get("/monitoring/metrics/?window=1h")
        assert status == 200, body
        routes = json.loads(body)["routes"]
        in_window = sum(row["requests"] for row in routes if row["route"] == route)
        return prometheus, in_window

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if text in line]


@contextmanager
def site(env: dict[str, str], log: Path, *args: str) -> Iterator[Site]:
    server = Site(env, log, *args)
    try:
        yield server
    finally:
        server.stop()


def assert_counted_exactly(server: Site, n: int, route: str = "/t/plain/") -> None:
    """Both outputs reach ``n`` and stay there once every worker has flushed again."""
    wait_until(lambda: server.counted(route) == (n, n), 30, f"{n} requests counted")
    time.sleep(4 * FLUSH_INTERVAL)
    assert server.counted(route) == (n, n)


# -- the stores under test ------------------------------------------------------------------


@contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = fleet_env(tmp_path, "database://")
    migrate(env)
    yield env


@contextmanager
def redis_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    with redis_prefix() as prefix:
        env = fleet_env(tmp_path, f"{REDIS_STORE_URL}?prefix={prefix}")
        migrate(env)
        yield env


@contextmanager
def postgresql_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    import psycopg
    from django.conf import settings

    pg = settings.DATABASES["pg"]
    dsn = f"host={pg['HOST']} port={pg['PORT']} user={pg['USER']} dbname=postgres"
    if pg["PASSWORD"]:
        dsn += f" password={pg['PASSWORD']}"
    require_server("PostgreSQL", lambda: psycopg.connect(dsn, connect_timeout=5).close())
    name = f"monitoring_fleet_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        env = fleet_env(tmp_path, "database://pg", FLEET_PG_NAME=name)
        migrate(env)
        migrate(env, "pg")
        yield env
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mysql_store(tmp_path: Path) -> Iterator[dict[str, str]]:
    import pymysql
    from django.conf import settings

    db = settings.DATABASES["mysql"]
    params = {
        "host": db["HOST"],
        "port": int(db["PORT"]),
        "user": db["USER"],
        "password": db["PASSWORD"],
        "connect_timeout": 5,
    }
    require_server("MariaDB/MySQL", lambda: pymysql.connect(**params).close())
    name = f"monitoring_fleet_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(**params, autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        env = fleet_env(tmp_path, "database://mysql", FLEET_MYSQL_NAME=name)
        migrate(env)
        migrate(env, "mysql")
        yield env
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


STORES = {
    "sqlite": sqlite_store,
    "postgresql": postgresql_store,
    "mysql": mysql_store,
    "redis": redis_store,
}


# -- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("store", sorted(STORES))
def test_concurrent_writers_add_up_exactly(tmp_path: Path, store: str) -> None:
    writers, batches = 6, 40
    with STORES[store](tmp_path) as env:
        go = tmp_path / "go"
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.fleet_writer",
                    env["MONITORING_STORE_URL"],
                    f"host-{i % 2}",
                    str(batches),
                    str(go),
                ],
                cwd=REPO,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(writers)
        ]
        go.touch()
        errors = [p.communicate(timeout=120)[1] for p in processes]
        assert [p.returncode for p in processes] == [0] * writers, errors
        assert not any("locked" in e for e in errors), errors
        read = subprocess.run(
            [sys.executable, "-c", READ_BACK, env["MONITORING_STORE_URL"]],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    result = json.loads(read.stdout)
    per_route = writers * batches
    assert result["window"] == {f"/r{i}/": per_route for i in range(10)}
    assert result["count"] == 10 * per_route
    # Two hosts, three writers each: each host's totals hold its own writers' requests.
    assert result["totals"] == {"host-0": 10 * per_route / 2, "host-1": 10 * per_route / 2}
    # 1 ms .. 40 ms, each value 60 times: the median is within the sketch's 1%.
    assert result["p50"] == pytest.approx(0.020, rel=0.011)


READ_BACK = """
import json, sys, django
django.setup()
from monitoring.recording import metrics as m
from monitoring.stores import store_from_url
url = sys.argv[1]
window = store_from_url(url, 24).read_window(3600)
hist = window.histogram(m.REQUEST_DURATION)
totals = {}
for host in ("host-0", "host-1"):
    counters = store_from_url(url, 24, host=host).read_totals().counters
    totals[host] = sum(v for (name, _), v in counters.items() if name == m.REQUESTS.name)
print(json.dumps({
    "window": {k: v for k, v in window.by(m.REQUESTS, "route").items()},
    "count": hist.count,
    "p50": hist.quantile(0.5),
    "totals": totals,
}))
"""


@pytest.mark.parametrize(("store", "preload"), [("sqlite", False), ("redis", True)])
def test_gunicorn_workers_count_every_request_exactly_once(
    tmp_path: Path, store: str, preload: bool
) -> None:
    n = 240
    with STORES[store](tmp_path) as env:
        args = ["--preload"] if preload else []
        with site(env, tmp_path / "gunicorn.log", *args) as server:
            results = server.hammer("/t/plain/", n, concurrency=24)
            assert [status for status, _ in results] == [200] * n
            assert_counted_exactly(server, n)
            booted = server.log_lines("Booting worker")
            assert len(booted) == 3, booted


def test_counters_stay_monotonic_across_worker_restarts(tmp_path: Path) -> None:
    with sqlite_store(tmp_path) as env:
        log = tmp_path / "gunicorn.log"
        with site(env, log, "--max-requests", "15", "--max-requests-jitter", "0") as server:
            seen: list[float] = []
            sent = 0
            for _ in range(10):
                assert [s for s, _ in server.hammer("/t/plain/", 20, 4)] == [200] * 20
                sent += 20
                seen.append(server.counted()[0])
            assert seen == sorted(seen), seen
            assert_counted_exactly(server, sent)
            # Workers were replaced many times over, and none of their counts was lost.
            assert len(server.log_lines("Booting worker")) >= 10


def test_redis_killed_mid_traffic_and_restarted(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (Debian package redis-server)")
        pytest.skip("redis-server is not installed; scripts/services.sh installs it")
    port = free_port()
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pings(url), 10, "redis-server")
        env = fleet_env(tmp_path, url)
        migrate(env)
        with site(env, tmp_path / "gunicorn.log") as server:
            assert {s for s, _ in server.hammer("/t/plain/", 30)} == {200}
            wait_until(lambda: server.counted()[0] == 30, 30, "the first requests counted")

            redis.kill()
            redis.wait(timeout=10)
            down = server.hammer("/t/plain/", 60)
            # Served as usual, and never waiting on the store: the flusher does that.
            assert {status for status, _ in down} == {200}
            assert max(seconds for _, seconds in down) < 3.0, down
            time.sleep(4 * FLUSH_INTERVAL)  # every worker has failed to flush by now
            status, body = server.get("/monitoring/metrics/?format=prometheus")
            assert status == 503 and b"cannot be read" in body

            redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            wait_until(lambda: _pings(url), 10, "redis-server again")
            assert {s for s, _ in server.hammer("/t/plain/", 40)} == {200}
            # What was recorded while Redis was down arrives once it is back; what it held
            # before it was killed went with it.
            assert_counted_exactly(server, 60 + 40)
            samples = server.prometheus()
            assert samples["monitoring_store_write_errors_total{}"] >= 3
            assert samples.get("monitoring_store_lost_requests_total{}", 0) == 0
            outage = server.log_lines("the metric store cannot be written")
            back = server.log_lines("the metric store is back")
            # Logged once per worker when the outage began and once when it ended.
            assert 1 <= len(outage) <= 3 and len(back) == len(outage), server.log.read_text()
    finally:
        redis.kill()
        redis.wait(timeout=10)


def _pings(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def test_a_locked_sqlite_store_delays_metrics_and_never_requests(tmp_path: Path) -> None:
    metrics_db = tmp_path / "metrics.sqlite3"
    env = fleet_env(tmp_path, "database://metrics", FLEET_METRICS_SQLITE=str(metrics_db))
    migrate(env)
    migrate(env, "metrics")
    with site(env, tmp_path / "gunicorn.log") as server:
        assert {s for s, _ in server.hammer("/t/plain/", 20)} == {200}
        wait_until(lambda: server.counted()[0] == 20, 30, "the first requests counted")
        lock = sqlite3.connect(metrics_db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # as a long migration or a backup would
        try:
            held = server.hammer("/t/plain/", 40)
            assert {status for status, _ in held} == {200}
            assert max(seconds for _, seconds in held) < 3.0, held
            time.sleep(6)  # longer than SQLite's busy timeout (5 s): flushes fail
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert_counted_exactly(server, 60)
        assert server.prometheus()["monitoring_store_write_errors_total{}"] >= 1
