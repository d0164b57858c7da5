"""One step of alerting in a process of its own, for the crash and multi-copy tests:
``python -m tests.alert_driver migrate|enqueue|deliver SECONDS_AHEAD|traffic ERRORS GOOD|
rows``."""

from __future__ import annotations

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.fleet_settings")
django.setup()

from django.core.management import call_command  # noqa: E402

from monitoring.alerts.delivery import deliver_notifications  # noqa: E402
from monitoring.alerts.service import to_datetime  # noqa: E402
from monitoring.models import Notification  # noqa: E402
from tests.messages import sample_message  # noqa: E402


def main(step: str, *args: str) -> None:
    if step == "migrate":
        call_command("migrate", verbosity=0)
    elif step == "enqueue":
        message = sample_message(notification_id=None)
        Notification.objects.create(
            channel="pagerduty",
            kind="firing",
            dedup_key=message.dedup_key,
            payload=message.to_dict(),
            created_at=to_datetime(time.time()),
            next_attempt_at=to_datetime(time.time()),
        )
    elif step == "deliver":
        report = deliver_notifications(now=time.time() + float(args[0]))
        print(json.dumps({"sent": report.sent, "retried": report.retried}))
    elif step == "traffic":
        # traffic ERRORS GOOD: that many failed and successful requests, now, into the store
        from monitoring import runtime
        from tests.alerting import Traffic, write_traffic

        traffic = Traffic().requests("/a/", int(args[0]), status=500)
        traffic.requests("/a/", int(args[1]))
        write_traffic(runtime.get_store(), traffic, time.time())
    elif step == "rows":
        rows = Notification.objects.values("status", "attempts", "last_error")
        print(json.dumps(list(rows)))


if __name__ == "__main__":
    main(*sys.argv[1:])
