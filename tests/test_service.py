"""run_monitoring: one cycle evaluates, delivers, cleans and beats; a failing step is logged
and the others still run."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from monitoring import runtime, service
from monitoring.alerts.service import to_datetime
from monitoring.models import AlertEvent
from tests.conftest import Monitored

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_one_cycle_runs_every_step_and_beats(
    monitored: Monitored, caplog: pytest.LogCaptureFixture
) -> None:
    AlertEvent.objects.create(
        rule="old",
        severity="warning",
        from_state="ok",
        to_state="pending",
        threshold=1,
        window_seconds=300,
        at=to_datetime(1_000_000.0),  # far older than the 90 days kept
    )
    with caplog.at_level(logging.INFO, logger="monitoring.service"):
        call_command("run_monitoring", "--once")
    assert runtime.get_store().last_beat("run_monitoring") is not None
    assert AlertEvent.objects.count() == 0
    (line,) = [r.getMessage() for r in caplog.records if r.name == "monitoring.service"]
    assert line.startswith("cycle in ")
    assert "alerts: 0 firing, 0 pending, 0 transitions" in line
    assert "delivery: 0 sent" in line and "cleanup: 1 history entries" in line


@pytest.mark.django_db
def test_a_failing_step_is_logged_and_the_others_run(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> str:
        raise RuntimeError("rules exploded")

    monkeypatch.setattr(service, "evaluate_step", broken)
    with caplog.at_level(logging.INFO, logger="monitoring.service"):
        report = service.run_cycle()
    assert report.failed == ["alerts"] and set(report.done) == {"delivery", "cleanup"}
    assert "The alerts step failed" in caplog.text
    assert runtime.get_store().last_beat("run_monitoring") is not None
    with pytest.raises(CommandError, match="cycle failed in: alerts"):
        call_command("run_monitoring", "--once")


def test_once_as_a_real_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'example'}",
        "DJANGO_SETTINGS_MODULE": "tests.fleet_settings",
        "FLEET_SQLITE": str(tmp_path / "site.sqlite3"),
    }
    manage = [sys.executable, "-m", "django"]
    migrate = subprocess.run([*manage, "migrate"], env=env, capture_output=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    once = subprocess.run(
        [*manage, "run_monitoring", "--once"], env=env, capture_output=True, text=True, timeout=60
    )
    assert once.returncode == 0, once.stderr
    bad = subprocess.run(
        [*manage, "run_monitoring", "--interval", "-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1] == (
        "CommandError: --interval must be a positive number of seconds"
    )


@pytest.mark.django_db
def test_the_service_does_not_record_its_own_queries(monitored: Monitored) -> None:
    from monitoring.recording import metrics as m

    service.run_cycle()
    window = monitored.window()
    assert list(window.series(m.FINGERPRINT_DURATION)) == []
    assert list(window.series(m.QUERY_DURATION)) == []
