"""docs/deploy/: the systemd unit verifies, the Kubernetes manifests parse and probe the
right endpoints, the gunicorn config loads and its worker_exit hook flushes; the service's
own probes answer."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.test import Client

from monitoring import runtime
from monitoring.probes import ProbeServer, liveness, readiness
from monitoring.recording import metrics as m
from monitoring.service import CycleReport
from tests.conftest import Monitored

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is not installed (Debian package systemd)")
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / "monitoring.service").read_text()
    assert "ExecStart=/srv/shop/venv/bin/python manage.py run_monitoring\n" in text
    assert "Restart=always\n" in text and "EnvironmentFile=/etc/shop/monitoring.env\n" in text
    # The paths of this machine instead of the example's, so that verify can check them.
    (tmp_path / "monitoring.env").write_text("DJANGO_SETTINGS_MODULE=shop.settings\n")
    user = getpass.getuser()
    local = (
        text.replace("/srv/shop/venv/bin/python", sys.executable)
        .replace("WorkingDirectory=/srv/shop", f"WorkingDirectory={tmp_path}")
        .replace("/etc/shop/monitoring.env", str(tmp_path / "monitoring.env"))
        .replace("www-data", user)
    )
    unit = tmp_path / "shop-monitoring.service"
    unit.write_text(local)
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert "shop-monitoring.service" not in verified.stderr, verified.stderr


def test_the_kubernetes_manifests() -> None:
    web, service = yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())
    assert web["kind"] == service["kind"] == "Deployment"
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/monitoring/healthz/"
    assert container["readinessProbe"]["httpGet"]["path"] == "/monitoring/readyz/"
    assert "docs/deploy/gunicorn.conf.py" in " ".join(container["command"])
    (monitor,) = service["spec"]["template"]["spec"]["containers"]
    assert monitor["command"][:3] == ["python", "manage.py", "run_monitoring"]
    port = int(monitor["command"][monitor["command"].index("--probe-port") + 1])
    assert monitor["ports"] == [{"name": "probes", "containerPort": port}]
    assert monitor["livenessProbe"]["httpGet"] == {"path": "/healthz/", "port": "probes"}
    assert monitor["readinessProbe"]["httpGet"] == {"path": "/readyz/", "port": "probes"}
    assert service["spec"]["replicas"] >= 2  # a second copy to take over
    for deployment in (web, service):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"] == labels


@pytest.mark.django_db
def test_the_gunicorn_config_loads_and_flushes_on_worker_exit(monitored: Monitored) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example'}"}
    config = str(DEPLOY / "gunicorn.conf.py")
    checked = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", config, "exampleproject.wsgi"],
        cwd=ROOT / "example",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout
    namespace: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), config, "exec"), namespace)
    assert namespace["preload_app"] is True and namespace["max_requests"] > 0
    Client().get("/t/plain/")
    store = runtime.get_store()
    assert list(store.read_window(60).series(m.REQUESTS)) == []  # not flushed yet
    namespace["worker_exit"](None, None)
    assert store.read_window(60).total(m.REQUESTS) == 1


def observed(**changes: object) -> SimpleNamespace:
    base = {"interval": 10.0, "started": 100.0, "last_started": None, "last_report": None}
    return SimpleNamespace(**{**base, **changes})


def test_liveness_fails_when_a_cycle_hangs() -> None:
    assert liveness(observed(), now=120.0) == (200, "ok")  # starting: its first cycle runs
    assert liveness(observed(last_started=150.0), now=175.0) == (200, "ok")
    status, text = liveness(observed(last_started=150.0), now=181.0)
    assert status == 503 and text == "stuck: the current cycle started 31 s ago"


def test_readiness_follows_the_last_cycle() -> None:
    assert readiness(observed())[0] == 503
    ok = CycleReport(leading=True, done={"system": "..."})
    assert readiness(observed(last_report=ok)) == (200, "ok (leader)")
    failed = CycleReport(leading=False, failed=["system", "heartbeat"])
    assert readiness(observed(last_report=failed)) == (
        503,
        "not ready: the last cycle failed in system, heartbeat",
    )


def test_the_probe_server_answers_on_its_port() -> None:
    service = observed(started=time.monotonic(), last_report=CycleReport(leading=False))
    probes = ProbeServer(service, "127.0.0.1", 0).start()  # type: ignore[arg-type]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    base = f"http://127.0.0.1:{probes.port}"
    try:
        with opener.open(f"{base}/healthz/", timeout=5) as response:
            assert (response.status, response.read()) == (200, b"ok\n")
        with opener.open(f"{base}/readyz", timeout=5) as response:
            assert response.read() == b"ok (follower)\n"
        service.last_report = CycleReport(failed=["alerts"])
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"{base}/readyz/", timeout=5)
        assert refused.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as missing:
            opener.open(f"{base}/metrics/", timeout=5)
        assert missing.value.code == 404
    finally:
        probes.stop()
