"""The admin of alerting: active alerts, their history and notifications (read-only, since
the background service owns them), and silences, which people add and end here; and the
recorded baselines (read-only: ``manage.py record_baseline`` writes them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .alerts.measures import format_value
from .alerts.queries import expire_silence
from .baselines import active_name
from .models import AlertEvent, AlertState, Baseline, BaselineRoute, Notification, Silence
from .report import span

DEFAULT_SILENCE = timedelta(hours=2)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, filtered and searched, never added, changed or deleted by hand: the
    background service writes these rows."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertState)
class AlertStateAdmin(ReadOnlyAdmin):
    list_display = [
        "rule",
        "route",
        "status",
        "severity",
        "value",
        "threshold",
        "active_since",
        "fired_at",
        "muted",
    ]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["rule", "route", "summary"]


class NotificationInline(admin.TabularInline):
    """The messages a transition queued, and whether they went out."""

    model = Notification
    fields = ["channel", "kind", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = ["channel", "kind", "status", "attempts", "sent_at", "last_error"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlertEvent)
class AlertEventAdmin(ReadOnlyAdmin):
    list_display = [
        "rule",
        "route",
        "from_state",
        "to_state",
        "severity",
        "value",
        "threshold",
        "window_seconds",
        "at",
        "muted",
    ]
    list_filter = ["rule", "to_state", "severity", "at"]
    date_hierarchy = "at"
    search_fields = ["rule", "route", "summary"]
    inlines = [NotificationInline]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "channel",
        "kind",
        "status",
        "attempts",
        "dedup_key",
        "created_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["channel", "status", "kind"]
    search_fields = ["dedup_key", "last_error"]
    fields = [
        "event",
        "channel",
        "kind",
        "status",
        "attempts",
        "dedup_key",
        "created_at",
        "next_attempt_at",
        "claimed_until",
        "sent_at",
        "last_error",
        "message",
    ]
    readonly_fields = ["message"]

    @admin.display(description="payload")
    def message(self, obj: Notification) -> SafeString:
        # The payload is the message as channels are given it: alert labels and values,
        # never a webhook URL or routing key (those are read from the settings when sent).
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))


class SilenceForm(forms.ModelForm):
    class Meta:
        model = Silence
        fields = ["rule", "route", "severity", "starts_at", "ends_at", "comment"]

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "A silence must end after it starts.")
        return cleaned


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    form = SilenceForm
    list_display = [
        "rule_or_all",
        "route",
        "severity",
        "starts_at",
        "ends_at",
        "comment",
        "created_by",
        "active",
    ]
    list_filter = ["severity", "rule"]
    search_fields = ["rule", "route", "comment", "created_by"]
    readonly_fields = ["created_by", "created_at"]
    actions = ["end_now"]

    @admin.display(description="rule", ordering="rule")
    def rule_or_all(self, obj: Silence) -> str:
        return obj.rule or "(every rule)"

    @admin.display(boolean=True, description="active")
    def active(self, obj: Silence) -> bool:
        return obj.starts_at <= timezone.now() < obj.ends_at

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        now = timezone.now().replace(microsecond=0)
        return {"starts_at": now, "ends_at": now + DEFAULT_SILENCE}

    def save_model(self, request: HttpRequest, obj: Silence, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="End the selected silences now")
    def end_now(self, request: HttpRequest, queryset: QuerySet[Silence]) -> None:
        now = timezone.now()
        running = list(queryset.filter(ends_at__gt=now).values_list("pk", flat=True))
        for pk in running:
            expire_silence(pk, now=now)
        self.message_user(request, f"{len(running)} silence(s) ended.")


def _figure(name: str, unit: str) -> Callable[[Any, Any], str]:
    def show(self: Any, obj: Any) -> str:
        return format_value(unit, getattr(obj, name))

    return admin.display(description=name.replace("_", " "), ordering=name)(show)


class FiguresShown:
    """A baseline's figures as people read them (85 ms, 12.5%, 3.2/s), not raw floats."""

    requests_shown = _figure("requests", "count")
    request_rate_shown = _figure("request_rate", "per_second")
    p50_shown = _figure("p50", "seconds")
    p95_shown = _figure("p95", "seconds")
    p99_shown = _figure("p99", "seconds")
    queries_per_request_shown = _figure("queries_per_request", "number")
    error_rate_shown = _figure("error_rate", "ratio")
    cache_hit_rate_shown = _figure("cache_hit_rate", "ratio")


FIGURES = tuple(name for name in vars(FiguresShown) if name.endswith("_shown"))
ROUTE_FIELDS = ("route", *FIGURES)
BASELINE_FIELDS = ("name", "window", "recorded_at", "active", *FIGURES)


class BaselineRouteInline(FiguresShown, admin.TabularInline):
    """Each route's figures in the baseline."""

    model = BaselineRoute
    fields = ROUTE_FIELDS
    readonly_fields = ROUTE_FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Baseline)
class BaselineAdmin(FiguresShown, ReadOnlyAdmin):
    """Recorded baselines, the active one marked, each route's figures below. They can be
    deleted here (one no longer wanted); ``manage.py record_baseline`` records them."""

    list_display = ["name", "window", "recorded_at", "active", *FIGURES]
    search_fields = ["name"]
    fields = BASELINE_FIELDS
    readonly_fields = BASELINE_FIELDS
    inlines = [BaselineRouteInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)

    @admin.display(description="window")
    def window(self, obj: Baseline) -> str:
        return span(obj.window_seconds)

    @admin.display(boolean=True, description="active")
    def active(self, obj: Baseline) -> bool:
        return obj.name == active_name()
