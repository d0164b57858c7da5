"""The whole baseline story on the example shop, with real requests: record a baseline,
slow the product page down, and see the regression in compare_baseline, in the
performance_regression alert and in the report."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from monitoring import config, runtime
from monitoring.alerts.service import evaluate_alerts
from monitoring.models import AlertState, Notification
from monitoring.report import render_report
from tests.conftest import Monitored

pytestmark = pytest.mark.django_db

MONITORING = {
    "STORE_URL": "memory://",
    "ALERT_EMAIL_ENABLED": True,
    "ALERT_EMAIL_RECIPIENTS": ["ops@example.com"],
}


def browse(client: Client, product_pages: int = 60) -> None:
    for index in range(product_pages):
        assert client.get(f"/products/{index % 5 + 1}/").status_code == 200
    for _ in range(10):
        assert client.get("/products/").status_code == 200
    runtime.flush()


@override_settings(MONITORING=MONITORING)
def test_a_slowed_product_page_is_flagged_everywhere(monitored: Monitored) -> None:
    call_command("seed_shop", stdout=StringIO())
    client = Client()
    browse(client)
    out = StringIO()
    call_command("record_baseline", "release-41", "--window", "5m", stdout=out)
    assert out.getvalue().startswith('baseline "release-41": the last 5m, 70 requests on 2 routes')
    # A new store: the traffic of the baseline is behind us; the baseline is in the database.
    config.reload()
    with override_settings(SHOP_PRODUCT_DELAY_MS=40):
        browse(client)

    table = StringIO()
    with pytest.raises(CommandError) as regressed:
        call_command("compare_baseline", "release-41", "--window", "5m", "--min-requests", "50",
                     stdout=table)  # fmt: skip
    assert regressed.value.returncode == 1
    assert str(regressed.value).startswith(
        '1 of 2 routes regressed past 1.25x the baseline "release-41": /products/<int:pk>/'
    )
    rows = [line for line in table.getvalue().splitlines() if line.startswith("/products/")]
    assert rows[0].startswith("/products/<int:pk>/") and rows[0].endswith("REGRESSED")

    now = time.time()
    evaluate_alerts(now=now)
    evaluate_alerts(now=now + 600)  # the rule's `for` is 10 minutes
    alert = AlertState.objects.get(rule="performance_regression")
    assert (alert.route, alert.status) == ("/products/<int:pk>/", "firing")
    (email,) = Notification.objects.filter(channel="email")
    assert 'the baseline "release-41"' in email.payload["description"]

    report = render_report(runtime.get_store(), 3600, time.time(), None)
    regressions = report.split('## Regressions against the baseline "release-41"')[1]
    assert "| /products/<int:pk>/ |" in regressions.split("##")[0]
