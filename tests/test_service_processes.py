"""run_monitoring as real processes sharing one SQLite site database (and its store):
``--once`` exit codes, two copies during an error burst, the leader killed mid-incident,
and SIGTERM in the middle of a delivery. PagerDuty and Slack are receivers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receivers import Receiver
from tests.servers import REDIS_STORE_URL, redis_client, redis_prefix

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
INTERVAL = 1.0
RULES = {"high_error_rate": {"for": 2}}  # a short `for`, so the tests run in seconds


class Site:
    """The environment of one site: its database file and its channels."""

    def __init__(self, tmp_path: Path, pagerduty: Receiver, slack: Receiver) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example'}",
            "DJANGO_SETTINGS_MODULE": "tests.fleet_settings",
            "FLEET_SQLITE": str(tmp_path / "site.sqlite3"),
            "FLEET_ALERT_RULES": json.dumps(RULES),
            "ALERT_PAGERDUTY_ENABLED": "true",
            "PAGERDUTY_ROUTING_KEY": "R0UTINGKEY",
            "PAGERDUTY_EVENTS_URL": pagerduty.url,
            "ALERT_SLACK_ENABLED": "true",
            "SLACK_WEBHOOK_URL": slack.url,
        }
        self.copies: list[subprocess.Popen[bytes]] = []

    def driver(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tests.alert_driver", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "django", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp_path / f"copy-{len(self.copies)}.log", "wb")  # noqa: SIM115
        command = ["run_monitoring", "--interval", str(INTERVAL), *extra]
        copy = subprocess.Popen(
            [sys.executable, "-m", "django", *command],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.copies.append(copy)
        return copy

    def lease(self) -> dict:
        """The service lease as the copies see it (read straight from the SQLite file:
        milliseconds, so a takeover is seen as it happens)."""
        with contextlib.closing(sqlite3.connect(self.env["FLEET_SQLITE"], timeout=10)) as db:
            try:
                row = db.execute(
                    "SELECT holder, token, expires_at FROM monitoring_servicelease"
                ).fetchone()
            except sqlite3.OperationalError:  # not migrated yet
                return {}
        return dict(zip(("holder", "token", "expires_at"), row, strict=True)) if row else {}

    def wait_until_sent(self, channel: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        query = "SELECT count(*) FROM monitoring_notification WHERE channel = ? AND status = ?"
        while time.monotonic() < deadline:
            with contextlib.closing(sqlite3.connect(self.env["FLEET_SQLITE"], timeout=10)) as db:
                if db.execute(query, (channel, "sent")).fetchone()[0]:
                    return
            time.sleep(0.05)
        raise AssertionError(f"no {channel} notification was marked sent")

    def leader_pid(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lease = self.lease()
            if lease.get("holder") and lease["expires_at"] > time.time():
                return int(lease["holder"].split(":")[1])
            time.sleep(0.2)
        raise AssertionError("no copy took the lease")

    def stop_all(self) -> list[int | None]:
        for copy in self.copies:
            if copy.poll() is None:
                copy.send_signal(signal.SIGTERM)
        codes = []
        for copy in self.copies:
            try:
                codes.append(copy.wait(timeout=15))
            except subprocess.TimeoutExpired:
                copy.kill()
                codes.append(None)
        return codes


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with (
        Receiver("/v2/enqueue", (202, {}, b'{"status":"success"}')) as pagerduty,
        Receiver("/services/T/B/X", (200, {}, b"ok")) as slack,
    ):
        yield pagerduty, slack


@pytest.fixture
def site(tmp_path: Path, receivers: tuple[Receiver, Receiver]) -> Iterator[Site]:
    site = Site(tmp_path, *receivers)
    migrated = site.manage("migrate")
    assert migrated.returncode == 0, migrated.stderr
    yield site
    site.stop_all()


def test_once_exit_codes(site: Site) -> None:
    assert site.manage("run_monitoring", "--once").returncode == 0
    bad = site.manage("run_monitoring", "--interval", "-1")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        "CommandError: --interval must be a positive number of seconds"
    )
    site.env["MONITORING_STORE_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    down = site.manage("run_monitoring", "--once")
    assert down.returncode == 1
    assert down.stderr.strip().splitlines()[-1].startswith("CommandError: cycle failed in: ")


def actions(receiver: Receiver) -> list[str]:
    return [request.json()["event_action"] for request in receiver.requests]


@pytest.mark.parametrize("store", ["database", "redis"])
def test_two_copies_notify_each_transition_once(
    site: Site, receivers: tuple[Receiver, Receiver], store: str
) -> None:
    pagerduty, slack = receivers
    with contextlib.ExitStack() as stack:
        if store == "redis":
            # The store and the lease in Redis; the alert tables stay in the database.
            prefix = stack.enter_context(redis_prefix())
            site.env["MONITORING_STORE_URL"] = f"{REDIS_STORE_URL}?prefix={prefix}"
        site.start()
        site.start()
        if store == "redis":
            key = f"{prefix}lease:run_monitoring"
            deadline = time.monotonic() + 30  # the copies need a moment to start
            while redis_client().get(key) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert redis_client().get(key) is not None
            assert site.lease().get("holder", "") == ""  # not in the database
        else:
            site.leader_pid()
        site.driver("traffic", "40", "60")  # 40% errors
        pagerduty.wait_for(1, timeout=30)
        site.driver("traffic", "0", "4000")  # diluted to 1%: resolved
        pagerduty.wait_for(2, timeout=30)
        slack.wait_for(2, timeout=30)
        time.sleep(4 * INTERVAL)  # more cycles of both copies: nothing more is sent
        assert site.stop_all() == [0, 0]
    assert actions(pagerduty) == ["trigger", "resolve"]
    assert len({r.json()["dedup_key"] for r in pagerduty.requests}) == 1
    assert [r.json()["text"].split()[0] for r in slack.requests] == ["FIRING", "RESOLVED"]


def test_the_leader_killed_mid_incident_is_replaced_and_the_alert_resolves_once(
    site: Site, receivers: tuple[Receiver, Receiver]
) -> None:
    pagerduty, _ = receivers
    first = site.start()
    assert site.leader_pid() == first.pid
    second = site.start()
    site.driver("traffic", "40", "60")
    pagerduty.wait_for(1, timeout=30)
    # Killed once the trigger is marked sent (a kill between sending and marking is the
    # crash test of test_alert_delivery_processes.py: the row waits for its claim to lapse).
    site.wait_until_sent("pagerduty")
    token = site.lease()["token"]
    first.send_signal(signal.SIGKILL)
    killed = time.time()
    deadline = time.monotonic() + 30
    while site.lease().get("token") == token and time.monotonic() < deadline:
        time.sleep(0.02)
    lease = site.lease()
    assert lease["token"] == token + 1
    assert lease["holder"].split(":")[1] == str(second.pid)
    # The new holder took the lease (expires_at = taken + 1.5 intervals) within two
    # intervals of the death, by the lease's own record rather than this test's polling.
    taken = lease["expires_at"] - 1.5 * INTERVAL
    assert taken - killed <= 2 * INTERVAL, taken - killed
    site.driver("traffic", "0", "4000")
    pagerduty.wait_for(2, timeout=30)
    time.sleep(3 * INTERVAL)
    assert actions(pagerduty) == ["trigger", "resolve"]


def test_sigterm_during_a_delivery_finishes_it_and_exits_0(
    site: Site, receivers: tuple[Receiver, Receiver]
) -> None:
    pagerduty, _ = receivers
    pagerduty.answer(2.0)  # the first event takes two seconds to be answered
    site.driver("enqueue")
    copy = site.start()
    pagerduty.wait_for(1, timeout=30)
    copy.send_signal(signal.SIGTERM)
    stopping = time.monotonic()
    assert copy.wait(timeout=15) == 0
    assert time.monotonic() - stopping < 10
    rows = json.loads(site.driver("rows"))
    assert rows == [{"status": "sent", "attempts": 1, "last_error": ""}]
    assert site.lease()["expires_at"] == 0  # released for the next copy at once
    assert site.manage("run_monitoring", "--once").returncode == 0
    assert len(pagerduty.requests) == 1  # nothing delivered twice after the restart


def test_the_service_answers_its_probes(site: Site) -> None:
    import urllib.error
    import urllib.request

    from tests.servers import free_port

    port = free_port()
    copy = site.start("--probe-port", str(port), "--probe-host", "127.0.0.1")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    answers: dict[str, tuple[int, str]] = {}
    for _ in range(100):  # bounded: the first cycle needs a moment
        time.sleep(0.2)
        for probe in ("healthz", "readyz"):
            try:
                with opener.open(f"http://127.0.0.1:{port}/{probe}/", timeout=2) as response:
                    answers[probe] = (response.status, response.read().decode().strip())
            except (urllib.error.URLError, ConnectionError) as exc:
                answers[probe] = (getattr(exc, "code", 0), str(exc))
        if answers["readyz"][0] == 200:
            break
    assert answers == {"healthz": (200, "ok"), "readyz": (200, "ok (leader)")}
    busy = site.manage("run_monitoring", "--probe-port", str(port), "--probe-host", "127.0.0.1")
    assert busy.returncode == 1
    assert (
        busy.stderr.strip()
        .splitlines()[-1]
        .startswith(f"CommandError: --probe-port {port}: cannot listen on 127.0.0.1")
    )
    copy.send_signal(signal.SIGTERM)
    assert copy.wait(timeout=15) == 0
