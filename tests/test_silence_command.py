"""manage.py silence_alert: add a silence, list those in force, end one; readable errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from monitoring.alerts import queries
from monitoring.models import Silence

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 27, 4, 40, 12, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queries.django_timezone, "now", lambda: NOW)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("silence_alert", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_silence_a_rule() -> None:
    out, err = run("high_error_rate", "--for", "2h", "--comment", "deploying")
    silence = Silence.objects.get()
    assert out == f"silence {silence.pk}: high_error_rate until 2026-11-27 06:40 UTC\n"
    assert err == ""
    assert (silence.rule, silence.route, silence.severity, silence.comment) == (
        "high_error_rate",
        "",
        "",
        "deploying",
    )
    assert (silence.starts_at, silence.ends_at) == (NOW, NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    ("duration", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)]
)
def test_durations(duration: str, seconds: int) -> None:
    run("high_error_rate", "--for", duration, "--comment", "x")
    silence = Silence.objects.get()
    assert silence.ends_at - silence.starts_at == timedelta(seconds=seconds)


def test_every_rule_of_one_route_and_severity() -> None:
    out, _ = run(
        "all",
        "--for",
        "30m",
        "--comment",
        "maintenance",
        "--route",
        "/x/",
        "--severity",
        "warning",
    )
    silence = Silence.objects.get()
    assert (silence.rule, silence.route, silence.severity) == ("", "/x/", "warning")
    assert silence.matches("high_response_time", "/x/", "warning")
    assert not silence.matches("high_response_time", "/y/", "warning")
    assert out == f"silence {silence.pk}: every rule on /x/ (warning) until 2026-11-27 05:10 UTC\n"


def test_a_rule_no_one_has_is_accepted_with_a_warning() -> None:
    out, err = run("no_such_rule", "--for", "1h", "--comment", "x")
    assert out.startswith("silence ")
    assert "no enabled rule is named 'no_such_rule'" in err
    _, err = run("high_error_rate", "--for", "1h", "--comment", "x")
    assert err == ""  # a default rule


def test_list_and_expire() -> None:
    assert run("--list")[0] == "no active silences\n"
    first = queries.create_silence("high_error_rate", timedelta(hours=2), "deploying")
    second = queries.create_silence(
        "", timedelta(minutes=30), "maintenance", route="/x/", created_by="bob"
    )
    queries.create_silence("gone", timedelta(hours=1), "old", now=NOW - timedelta(hours=3))
    assert run("--list")[0] == (
        f"silence {second.pk}: every rule on /x/ until 2026-11-27 05:10 UTC by bob: maintenance\n"
        f"silence {first.pk}: high_error_rate until 2026-11-27 06:40 UTC: deploying\n"
    )
    out, _ = run("--expire", str(first.pk))
    assert out == f"silence {first.pk}: high_error_rate ended at 2026-11-27 04:40 UTC\n"
    first.refresh_from_db()
    assert first.ends_at == NOW
    assert run("--list")[0].startswith(f"silence {second.pk}:")
    assert len(run("--list")[0].splitlines()) == 1


def test_expiring_a_silence_that_has_not_begun() -> None:
    later = queries.create_silence("x", timedelta(hours=1), "later", now=NOW + timedelta(hours=1))
    ended = queries.expire_silence(later.pk)
    assert (ended.starts_at, ended.ends_at) == (NOW, NOW)


def test_expiring_an_ended_silence_changes_nothing() -> None:
    old = queries.create_silence("x", timedelta(hours=1), "old", now=NOW - timedelta(hours=3))
    assert queries.expire_silence(old.pk).ends_at == NOW - timedelta(hours=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["high_error_rate", "--for", "2 hours", "--comment", "x"], "is not a duration"),
        (["high_error_rate", "--for", "0", "--comment", "x"], "is not a duration"),
        (["high_error_rate", "--for", "0m", "--comment", "x"], "longer than zero"),
        (["high_error_rate", "--for=-1h", "--comment", "x"], "is not a duration"),
        (["high_error_rate", "--comment", "x"], "--for is required"),
        (["high_error_rate", "--for", "1h"], "a comment is required"),
        (["high_error_rate", "--for", "1h", "--comment", "  "], "a comment is required"),
        (["x" * 101, "--for", "1h", "--comment", "x"], "rule: "),
        (["high_error_rate", "--for", "1h", "--comment", "x", "--severity", "fatal"], "invalid"),
        (["--expire", "999"], "there is no silence 999"),
        (["--expire", "abc"], "invalid int value"),
        ([], "give a RULE to silence, or --list, or --expire ID"),
        (["high_error_rate", "--list"], "give a RULE to silence, or --list, or --expire ID"),
    ],
)
def test_bad_input_is_one_readable_line(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as failure:
        run(*args)
    assert message in str(failure.value)
    assert "\n" not in str(failure.value)
    assert not Silence.objects.exists()


def test_create_silence_refuses_what_the_command_would() -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        queries.create_silence("x", timedelta(0), "c")
    with pytest.raises(ValueError, match="severity"):
        queries.create_silence("x", timedelta(hours=1), "c", severity="fatal")
