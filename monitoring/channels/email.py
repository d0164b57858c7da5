"""Alerts by email, through Django's email backend (``EMAIL_BACKEND``, ``EMAIL_HOST``...).

Each message is one email: a plain-text body and an HTML alternative holding the same facts
in a small table. Options: ``RECIPIENTS`` (a list, or a comma-separated string) and
``FROM`` (default: ``DEFAULT_FROM_EMAIL``).
"""

from __future__ import annotations

import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import BadHeaderError, EmailMultiAlternatives, get_connection
from django.utils.html import format_html, format_html_join

from .base import Channel, DeliveryError, Message
from .formatting import facts, headline, one_line, status_label, truncate

SUBJECT_CHARS = 250
ROW = '<tr><th style="padding:2px 12px 2px 0;text-align:left">{}</th><td>{}</td></tr>'
TEST_NOTICE = (
    "This is a test notification sent by manage.py send_test_alert. "
    "No alert is firing and nothing needs to be done."
)


def email_subject(message: Message) -> str:
    """``[FIRING:CRITICAL] high_error_rate on /items/<int:pk>/: error rate 12.5% > 5%``."""
    if message.test:
        tag = ""
    elif message.status == "firing":
        tag = f"[FIRING:{message.severity.upper()}] "
    else:
        tag = f"[{status_label(message)}] "
    return truncate(tag + headline(message), SUBJECT_CHARS)


def _links(message: Message) -> list[tuple[str, str]]:
    found = [("Runbook", message.runbook_url), ("Dashboard", message.dashboard_url)]
    return [(label, url) for label, url in found if url]


def email_text(message: Message) -> str:
    """The plain-text body."""
    lines = [TEST_NOTICE, ""] if message.test else []
    lines += [headline(message), ""]
    if message.description:
        lines += [message.description.strip(), ""]
    # One column width for every email ("Dashboard: " is the longest label).
    lines += [f"{label + ':':<11}{text}" for label, text in facts(message) + _links(message)]
    return "\n".join(lines) + "\n"


def _link(url: str) -> str:
    # Only web links become anchors; anything else (javascript:...) stays inert text.
    if url.startswith(("https://", "http://")):
        return format_html('<a href="{}">{}</a>', url, url)
    return format_html("{}", url)


def email_html(message: Message) -> str:
    """The HTML alternative: every value escaped, the facts in a two-column table."""
    rows = format_html_join("", ROW, facts(message))
    links = format_html_join("", ROW, ((label, _link(url)) for label, url in _links(message)))
    notice = format_html("<p><strong>{}</strong></p>", TEST_NOTICE) if message.test else ""
    description = (
        format_html("<p>{}</p>", message.description.strip()) if message.description else ""
    )
    return format_html(
        '<html><body style="font-family:sans-serif">{}<h2 style="font-size:16px">{}</h2>{}'
        "<table>{}{}</table></body></html>",
        notice,
        headline(message),
        description,
        rows,
        links,
    )


def recipients_of(options: dict[str, Any]) -> list[str]:
    """The ``RECIPIENTS`` option as a list, whether it was given as a list or as "a, b"."""
    raw = options.get("RECIPIENTS") or []
    if isinstance(raw, str):
        raw = raw.split(",")
    return [address.strip() for address in raw if address and address.strip()]


class EmailChannel(Channel):
    """Sends each message as one email to ``RECIPIENTS``."""

    def problems(self) -> list[str]:
        if recipients_of(self.options):
            return []
        return ["no recipients: set ALERT_EMAIL_RECIPIENTS (or the channel's RECIPIENTS)"]

    def send(self, message: Message) -> None:
        recipients = recipients_of(self.options)
        if not recipients:
            raise DeliveryError(f"{self.name}: no recipients configured", retry=False)
        email = EmailMultiAlternatives(
            subject=email_subject(message),
            body=email_text(message),
            from_email=self.options.get("FROM") or settings.DEFAULT_FROM_EMAIL,
            to=recipients,
            # A bounded SMTP timeout: Django's default (EMAIL_TIMEOUT=None) can block forever.
            connection=get_connection(fail_silently=False, timeout=self.timeout),
        )
        email.attach_alternative(email_html(message), "text/html")
        try:
            sent = email.send()
        # Broad on purpose: third-party backends (SES, Anymail...) raise their own errors,
        # and each is a failed delivery to classify, not a crash of the delivery loop.
        except Exception as exc:
            raise smtp_error(self.name, exc) from exc
        if not sent:
            raise DeliveryError(f"{self.name}: the email backend sent nothing", retry=True)


def smtp_error(name: str, exc: Exception) -> DeliveryError:
    """Classify a failure of sending mail: a refusal is final, a broken connection is not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return DeliveryError(f"{name}: every recipient was refused", retry=False)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return DeliveryError(f"{name}: sender refused ({_smtp_text(exc)})", retry=False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"{name}: the SMTP server does not support that", retry=False)
    if isinstance(exc, smtplib.SMTPResponseException):
        final = 500 <= exc.smtp_code < 600
        return DeliveryError(f"{name}: SMTP error {_smtp_text(exc)}", retry=not final)
    if isinstance(exc, BadHeaderError):
        return DeliveryError(f"{name}: invalid email header", retry=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"{name}: SMTP timed out", retry=True)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return DeliveryError(f"{name}: mail server unreachable ({type(exc).__name__})", retry=True)
    return DeliveryError(f"{name}: email failed ({type(exc).__name__})", retry=True)


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return truncate(one_line(f"{exc.smtp_code} {text}"), 200)
