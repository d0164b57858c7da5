"""A PagerDuty channel whose process dies right after the event went out, before the
outbox row is marked sent: the crash the outbox must survive without a lost or double page."""

from __future__ import annotations

import os

from monitoring.channels.base import Message
from monitoring.channels.pagerduty import PagerDutyChannel


class PagerDutyThenCrash(PagerDutyChannel):
    def send(self, message: Message) -> None:
        super().send(message)
        os._exit(70)
