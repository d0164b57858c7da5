"""``manage.py silence_alert``: silence an alert for a while, list silences, end one.

manage.py silence_alert high_error_rate --for 2h --comment "deploying"
manage.py silence_alert all --for 30m --comment "maintenance" --route /checkout/
manage.py silence_alert --list
manage.py silence_alert --expire 7
"""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta, timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from monitoring.alerts.queries import create_silence, expire_silence, silences_in_force
from monitoring.models import Silence
from monitoring.params import parse_duration

EVERY_RULE = "all"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def _scope(rule: str, route: str, severity: str) -> str:
    """``high_error_rate``, ``every rule on /checkout/ (warning)``."""
    scope = rule or "every rule"
    if route:
        scope += f" on {route}"
    return f"{scope} ({severity})" if severity else scope


def _known_rules() -> set[str] | None:
    """The names of the enabled rules, or None when they cannot be loaded."""
    try:
        from monitoring.alerts.rules import load_rules

        return {rule.name for rule in load_rules()}
    except Exception:
        return None


class Command(BaseCommand):
    help = "Silence alerts for a while (RULE --for 2h --comment ...), --list or --expire ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("rule", nargs="?", help=f"the rule to silence, or {EVERY_RULE!r}")
        parser.add_argument("--for", dest="duration", help="how long: 90s, 30m, 2h, 1d")
        parser.add_argument("--comment", help="why (required)")
        parser.add_argument("--route", default="", help="only alerts of this route")
        parser.add_argument(
            "--severity", default="", choices=["critical", "warning", "info"], help="only these"
        )
        parser.add_argument("--list", action="store_true", help="list the active silences")
        parser.add_argument("--expire", type=int, metavar="ID", help="end this silence now")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = [options["rule"] is not None, options["list"], options["expire"] is not None]
        if sum(wanted) != 1:
            raise CommandError("give a RULE to silence, or --list, or --expire ID")
        if options["list"]:
            self._list()
        elif options["expire"] is not None:
            self._expire(options["expire"])
        else:
            self._silence(options)

    def _silence(self, options: dict[str, Any]) -> None:
        if not options["duration"]:
            raise CommandError("--for is required: how long to silence, e.g. --for 2h")
        try:
            duration = timedelta(seconds=parse_duration(options["duration"]))
        except ValueError:
            raise CommandError(
                f"--for {options['duration']!r} is not a duration such as 90s, 30m, 2h or 1d"
            ) from None
        rule = "" if options["rule"] == EVERY_RULE else options["rule"]
        known = _known_rules()
        if rule and known is not None and rule not in known:
            self.stderr.write(f"warning: no enabled rule is named {rule!r}; silencing it anyway")
        try:
            silence = create_silence(
                rule,
                duration,
                options["comment"] or "",
                route=options["route"],
                severity=options["severity"],
                created_by=_user(),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        scope = _scope(silence.rule, silence.route, silence.severity)
        self.stdout.write(f"silence {silence.pk}: {scope} until {_utc(silence.ends_at)}")

    def _list(self) -> None:
        silences = silences_in_force()
        if not silences:
            self.stdout.write("no active silences")
        for silence in silences:
            scope = _scope(silence.rule, silence.route, silence.severity)
            by = f" by {silence.created_by}" if silence.created_by else ""
            self.stdout.write(
                f"silence {silence.pk}: {scope} until {_utc(silence.ends_at)}{by}: "
                f"{silence.comment}"
            )

    def _expire(self, silence_id: int) -> None:
        try:
            silence = expire_silence(silence_id)
        except Silence.DoesNotExist:
            raise CommandError(f"there is no silence {silence_id}") from None
        scope = _scope(silence.rule, silence.route, silence.severity)
        self.stdout.write(f"silence {silence.pk}: {scope} ended at {_utc(silence.ends_at)}")


def _user() -> str:
    """Who ran the command, for the silence's ``created_by``."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""
