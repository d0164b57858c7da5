"""The email channel, through Django's locmem backend (and a real, refused SMTP port)."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from monitoring.channels.base import DeliveryError
from monitoring.channels.email import EmailChannel, recipients_of, smtp_error
from tests.messages import DASHBOARD, RUNBOOK, resolved_message, sample_message
from tests.servers import free_port


def channel(**options: Any) -> EmailChannel:
    return EmailChannel("email", {"RECIPIENTS": ["ops@example.com"], "TIMEOUT": 2, **options})


def sent_email() -> mail.EmailMultiAlternatives:
    [email] = mail.outbox
    assert isinstance(email, mail.EmailMultiAlternatives)
    return email


@override_settings(DEFAULT_FROM_EMAIL="site@example.com")
def test_firing_email() -> None:
    channel(RECIPIENTS="a@example.com, b@example.com").send(sample_message())
    email = sent_email()
    assert email.subject == (
        "[FIRING:CRITICAL] high_error_rate on /items/<int:pk>/: error rate 12.5% > 5%"
    )
    assert (email.from_email, email.to) == ("site@example.com", ["a@example.com", "b@example.com"])
    assert email.body == (
        "high_error_rate on /items/<int:pk>/: error rate 12.5% > 5%\n\n"
        "More than 5% of the requests failed.\n\n"
        "Severity:  critical\n"
        "Status:    firing\n"
        "Value:     12.5% > 5%\n"
        "Route:     /items/<int:pk>/\n"
        "Window:    5m\n"
        "Host:      web-1\n"
        "Started:   2026-11-18 11:06:40 UTC\n"
        f"Runbook:   {RUNBOOK}\n"
        f"Dashboard: {DASHBOARD}\n"
    )
    [(html, mimetype)] = email.alternatives
    assert mimetype == "text/html"
    assert "/items/&lt;int:pk&gt;/" in html and "<int:pk>" not in html
    assert "error rate 12.5% &gt; 5%" in html
    assert "<th" in html and ">Severity</th><td>critical</td>" in html
    assert f'<a href="{RUNBOOK}">{RUNBOOK}</a>' in html
    assert f'<a href="{DASHBOARD}">{DASHBOARD}</a>' in html


def test_resolved_email() -> None:
    channel(FROM="alerts@example.com").send(resolved_message(dashboard_url=None))
    email = sent_email()
    assert email.subject == "[RESOLVED] high_error_rate on /items/<int:pk>/: error rate 12.5% > 5%"
    assert email.from_email == "alerts@example.com"
    assert "Value:     1.2% (threshold > 5%)\n" in email.body
    assert "Resolved:  2026-11-18 11:16:40 UTC\n" in email.body
    assert "Dashboard" not in email.body and "Dashboard" not in email.alternatives[0][0]


def test_test_email_is_marked_in_subject_and_body() -> None:
    channel().send(sample_message(test=True, summary="[TEST] monitoring test notification"))
    email = sent_email()
    assert email.subject == "[TEST] monitoring test notification"
    assert email.body.startswith("This is a test notification")
    assert "<strong>This is a test notification" in email.alternatives[0][0]


def test_html_escapes_everything_and_links_only_web_urls() -> None:
    channel().send(
        sample_message(description="<script>x</script>", runbook_url="javascript:alert(1)")
    )
    html = sent_email().alternatives[0][0]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html and "javascript:alert(1)" in html


def test_no_recipients() -> None:
    assert EmailChannel("email", {"RECIPIENTS": []}).problems()
    assert not channel().problems()
    with pytest.raises(DeliveryError) as caught:
        EmailChannel("email", {"RECIPIENTS": " , "}).send(sample_message())
    assert caught.value.retry is False
    assert recipients_of({"RECIPIENTS": "a@x, ,b@x"}) == ["a@x", "b@x"]


def test_a_refused_smtp_connection_is_retried() -> None:
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    with (
        override_settings(EMAIL_BACKEND=smtp, EMAIL_HOST="127.0.0.1", EMAIL_PORT=free_port()),
        pytest.raises(DeliveryError) as caught,
    ):
        channel().send(sample_message())
    assert caught.value.retry is True
    assert caught.value.reason == "email: mail server unreachable (ConnectionRefusedError)"


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPRecipientsRefused({"ops@example.com": (550, b"no such user")})


@override_settings(EMAIL_BACKEND="tests.test_channel_email.RefusingBackend")
def test_backend_errors_are_classified() -> None:
    with pytest.raises(DeliveryError) as caught:
        channel().send(sample_message())
    assert (caught.value.retry, caught.value.reason) == (
        False,
        "email: every recipient was refused",
    )


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (smtplib.SMTPSenderRefused(550, b"not allowed", "a@x"), False),
        (smtplib.SMTPNotSupportedError("no STARTTLS"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (smtplib.SMTPDataError(451, b"try again"), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (RuntimeError("a third-party backend's own error"), True),
    ],
)
def test_smtp_error_classification(error: Exception, retry: bool) -> None:
    classified = smtp_error("email", error)
    assert classified.retry is retry
    assert "\n" not in classified.reason and classified.reason.startswith("email: ")
