"""The README's demo command: the example shop under gunicorn with traffic and monitoring."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def fetch(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return bytes(response.read())


def log_in(site: str, username: str, password: str) -> urllib.request.OpenerDirector:
    """Log in through the admin's login form, as a browser does: a session of one's own."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
    )
    with opener.open(f"{site}/admin/login/?next=/admin/", timeout=10) as response:
        form = response.read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert csrf, form
    fields = {
        "csrfmiddlewaretoken": csrf.group(1),
        "username": username,
        "password": password,
        "next": "/admin/",
    }
    request = urllib.request.Request(
        f"{site}/admin/login/?next=/admin/",
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": f"{site}/admin/login/"},
    )
    with opener.open(request, timeout=10) as response:
        assert response.url == f"{site}/admin/", response.url  # not back at the form
        assert "Site administration" in response.read().decode()
    return opener


def check_dashboard(site: str, output: str) -> None:
    """The printed dashboard line: its page answers, and its credentials log in."""
    line = re.search(
        rf"Dashboard: {re.escape(site)}/monitoring/  \(log in as (\w+) / (\S+)\)", output
    )
    assert line, output
    # The demo keeps the default allowlist (loopback): this address sees the page at once.
    page = fetch(f"{site}/monitoring/").decode()
    assert "<h1>Monitoring dashboard</h1>" in page and "monitoring-config" in page
    session = log_in(site, line.group(1), line.group(2))
    with session.open(f"{site}/monitoring/ui/", timeout=10) as response:
        assert response.status == 200
        assert "Log out" in response.read().decode()  # the admin's header, logged in
    assert b"uPlot" in fetch(f"{site}/static/monitoring/vendor/uplot/uPlot.iife.min.js")


def test_demo_serves_the_shop_with_traffic_and_metrics() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "DEMO_DURATION": "120"}
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 300
        assert demo.stdout is not None
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Summary:" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/monitoring/metrics/?format=prometheus" in output, output
        check_dashboard(f"http://127.0.0.1:{port}", output)
        summary: dict = {}
        text = ""
        for _ in range(80):  # the generator needs a moment, more on a busy machine; bounded
            time.sleep(0.5)
            summary = json.loads(fetch(f"http://127.0.0.1:{port}/monitoring/metrics/?window=5m"))
            text = fetch(f"http://127.0.0.1:{port}/monitoring/metrics/?format=prometheus").decode()
            health = json.loads(fetch(f"http://127.0.0.1:{port}/monitoring/health/"))
            service = health["checks"]["background_service"]["status"]
            enough = summary["requests"]["total"] >= 20 and service == "ok"
            if enough and 'route="/products/n-plus-one/"' in text:
                break
        routes = {row["route"] for row in summary["routes"]}
        assert {"/products/", "/products/<int:pk>/"} <= routes
        assert summary["database"]["queries"] > 0
        assert summary["cache"]["hits"] + summary["cache"]["misses"] > 0
        assert 'route="/products/n-plus-one/"' in text
        # The background service runs beside the site: its cycles keep the heartbeat fresh.
        assert health["checks"]["background_service"]["status"] == "ok"
        assert "\nmonitoring_service_last_cycle_timestamp_seconds " in text
        alerts = json.loads(fetch(f"http://127.0.0.1:{port}/monitoring/alerts/"))
        assert set(alerts) == {"active", "silences", "firing"}
        # Ctrl-C, as a terminal sends it: to the whole process group.
        os.killpg(demo.pid, signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
        assert demo.returncode == 130, output + rest
        assert "Sent " in rest and "Stopped." in rest
        service_log = (REPO / ".venvs" / "demo" / "service.log").read_text()
        assert "cycle (leader) in " in service_log
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
