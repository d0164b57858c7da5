"""Settings: defaults, the MONITORING dict, environment overrides, and one test per check id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core import checks
from django.test import override_settings

from monitoring import config
from monitoring.checks import check_settings


@pytest.fixture(autouse=True)
def fresh_config() -> Iterator[None]:
    config.reload()
    yield
    config.reload()


def ids(**monitoring: object) -> dict[str, checks.CheckMessage]:
    with override_settings(MONITORING=monitoring):
        return {message.id: message for message in check_settings()}  # type: ignore[misc]


def test_defaults() -> None:
    with override_settings(MONITORING=None):
        cfg = config.get_config()
    assert cfg["RETENTION_HOURS"] == 24
    assert cfg["COLLECTION_INTERVAL"] == 60
    assert cfg["ALLOWED_IPS"] == ["127.0.0.1", "::1"]
    assert cfg["PAGERDUTY_EVENTS_URL"] == "https://events.pagerduty.com/v2/enqueue"
    assert cfg["SLOW_QUERY_MS"] == 100 and cfg["N_PLUS_ONE_THRESHOLD"] == 5


def test_environment_overrides_the_settings_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_RETENTION_HOURS", "48")
    monkeypatch.setenv("MONITORING_ALLOWED_IPS", "10.0.0.0/8, 192.168.1.5")
    monkeypatch.setenv("ALERT_SLACK_ENABLED", "true")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T/B/X")
    monkeypatch.setenv("ALERT_EMAIL_RECIPIENTS", "a@example.com,b@example.com")
    monkeypatch.setenv("MONITORING_TOKEN", "s3cret")
    with override_settings(MONITORING={"RETENTION_HOURS": 12, "TOKEN": "from-settings"}):
        cfg = config.get_config()
    assert cfg["RETENTION_HOURS"] == 48.0
    assert cfg["ALLOWED_IPS"] == ["10.0.0.0/8", "192.168.1.5"]
    assert cfg["ALERT_SLACK_ENABLED"] is True
    assert cfg["ALERT_EMAIL_RECIPIENTS"] == ["a@example.com", "b@example.com"]
    assert cfg["TOKEN"] == "s3cret"


def test_a_bad_value_falls_back_to_the_default_and_is_reported() -> None:
    with override_settings(MONITORING={"RETENTION_HOURS": -1}):
        assert config.get_config()["RETENTION_HOURS"] == 24
        (problem,) = config.config_problems()
    assert problem.id == "monitoring.E001"
    assert "RETENTION_HOURS" in problem.message and "positive" in problem.message


@pytest.mark.parametrize(
    ("monitoring", "check_id", "words"),
    [
        ({"RETENTION_HOURS": -5}, "monitoring.E001", "positive"),
        ({"STORE_URL": "mongodb://x"}, "monitoring.E002", "unknown scheme"),
        ({"STORE_URL": "database://nosuchalias"}, "monitoring.E002", "not in DATABASES"),
        ({"STORE_URL": "redis:///0"}, "monitoring.E002", "needs a host"),
        ({"HOST": 7}, "monitoring.E002", "string"),
        ({"STORE_BACKLOG_SECONDS": -1}, "monitoring.E003", "positive"),
        ({"HEALTH_CHECK_TIMEOUT": 0}, "monitoring.E003", "positive"),
        ({"HEALTH_DISK_THRESHOLDS": [95, 90]}, "monitoring.E019", "degraded at, error at"),
        ({"HEALTH_MEMORY_THRESHOLDS": [90]}, "monitoring.E019", "degraded at, error at"),
        ({"HEALTH_CHECKS": ["no.such.check"]}, "monitoring.E020", "imported"),
        (
            {"PERFORMANCE_RATINGS": [[300, "good"], [100, "excellent"]]},
            "monitoring.E021",
            "increasing",
        ),
        ({"COLLECTION_INTERVAL": 0}, "monitoring.E003", "positive"),
        ({"SKETCH_RELATIVE_ACCURACY": 2.0}, "monitoring.E004", "0.01 means 1%"),
        ({"TOKEN": 1234}, "monitoring.E005", "string"),
        ({"ALLOWED_IPS": ["10.0.0.0/8", "not-an-ip"]}, "monitoring.E006", "not-an-ip"),
        ({"EXCLUDE_PATHS": ["(unclosed"]}, "monitoring.E007", "regular expression"),
        ({"EXCLUDE_DATABASES": "default"}, "monitoring.E008", "list of strings"),
        ({"SLOW_QUERY_MS": -1}, "monitoring.E009", "positive"),
        ({"CACHE_KEY_PREFIX_FUNCTION": "no.such.function"}, "monitoring.E010", "imported"),
        ({"MAX_ROUTES": 0}, "monitoring.E011", "whole number"),
        ({"PROMETHEUS_TOP_FINGERPRINTS": 0}, "monitoring.E011", "whole number"),
        ({"REQUEST_DURATION_BUCKETS": [1, 0.5]}, "monitoring.E012", "increasing"),
        ({"ALERT_EMAIL_ENABLED": "yes"}, "monitoring.E013", "True or False"),
        ({"SLACK_WEBHOOK_URL": "hooks.slack.com/x"}, "monitoring.E014", "URL"),
        ({"PAGERDUTY_EVENTS_URL": "ftp://events"}, "monitoring.E015", "URL"),
        ({"ALERT_SLACK_ENABLED": True}, "monitoring.E017", "webhook"),
        ({"ALERT_PAGERDUTY_ENABLED": True}, "monitoring.E018", "routing key"),
        ({"ALERT_RULES": {"x": {"metric": "latency"}}}, "monitoring.E022", "'x': metric"),
        ({"ALERT_RULES": ["high_error_rate"]}, "monitoring.E022", "rule name"),
        ({"ALERT_ROUTING": {"critical": ["sms"]}}, "monitoring.E023", "'sms'"),
        ({"ALERT_ROUTING": {"critical": "pagerduty"}}, "monitoring.E023", "channel name"),
        (
            {"ALERT_CHANNELS": {"teams": {"CLASS": "no.such.Channel"}}},
            "monitoring.E023",
            "imported",
        ),
        ({"ALERT_COOLDOWN": 0}, "monitoring.E024", "positive"),
        ({"ALERT_HTTP_TIMEOUT": -1}, "monitoring.E024", "positive"),
        ({"ALERT_WEBHOOK_URL": "hooks/x"}, "monitoring.E014", "URL"),
        ({"SITE_URL": "shop.example.com"}, "monitoring.E014", "URL"),
        ({"ALERT_WEBHOOK_ENABLED": True}, "monitoring.E025", "URL"),
        ({"ALERT_ALERTMANAGER_ENABLED": True}, "monitoring.E026", "Alertmanager URL"),
        ({"ALERT_ALERTMANAGER_URL": "alertmanager:9093"}, "monitoring.E014", "URL"),
        ({"REPORT_SCHEDULE": "hourly"}, "monitoring.E027", "'daily', 'weekly'"),
        ({"REPORT_PERIOD": "a week"}, "monitoring.E028", '("24h", "7d")'),
        ({"REPORT_PERIOD": 30}, "monitoring.E028", "at least a minute"),
        ({"ACTIVE_BASELINE": ""}, "monitoring.E029", "baseline's name"),
        ({"RETENTON_HOURS": 5}, "monitoring.W001", "unknown key"),
        ({"ALLOWED_IPS": ["0.0.0.0/0"], "TOKEN": "t"}, "monitoring.W003", "every address"),
        ({"ALERT_EMAIL_ENABLED": True}, "monitoring.W004", "recipients"),
        ({"REPORT_SCHEDULE": "weekly"}, "monitoring.W007", "no recipients"),
    ],
)
def test_each_check(monitoring: dict[str, object], check_id: str, words: str) -> None:
    found = ids(**monitoring)
    assert check_id in found, found
    message = found[check_id]
    assert words in message.msg
    assert message.hint
    assert isinstance(
        message, checks.Warning if check_id.startswith("monitoring.W") else checks.Error
    )


def test_unparsable_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_COLLECTION_INTERVAL", "often")
    found = ids()
    assert "METRICS_COLLECTION_INTERVAL" in found["monitoring.E016"].msg
    assert config.get_config()["COLLECTION_INTERVAL"] == 60


def test_production_without_token_or_allowlist_warns() -> None:
    with override_settings(DEBUG=False):
        assert "monitoring.W002" in ids()
        assert "monitoring.W002" not in ids(TOKEN="long-random-token")
        assert "monitoring.W002" not in ids(ALLOWED_IPS=["10.1.0.0/16"])
    with override_settings(DEBUG=True):
        assert "monitoring.W002" not in ids()


def test_valid_settings_pass_every_check() -> None:
    found = ids(
        STORE_URL="database://pg",
        TOKEN="t",
        ALLOWED_IPS=["10.0.0.0/8"],
        ALERT_SLACK_ENABLED=True,
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T/B/X",
        CACHE_KEY_PREFIX_FUNCTION="monitoring.recording.aggregator.default_key_prefix",
    )
    assert found == {}


def test_report_and_baseline_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_ACTIVE_BASELINE", "release-41")
    found = ids(
        STORE_URL="memory://",
        REPORT_SCHEDULE="weekly",
        REPORT_PERIOD="3d",
        TOKEN="t",
        ALERT_EMAIL_RECIPIENTS=["ops@example.com"],
    )
    assert found == {}
    assert config.get_config()["ACTIVE_BASELINE"] == "release-41"
    with override_settings(MONITORING={"REPORT_PERIOD": 86400}):
        assert config.get_config()["REPORT_PERIOD"] == 86400


def test_secrets_do_not_appear_in_check_messages() -> None:
    found = ids(SLACK_WEBHOOK_URL="hooks.slack.com/services/T000/B000/SECRETPART")
    text = " ".join(f"{m.msg} {m.hint}" for m in found.values())
    assert "SECRETPART" not in text


def test_the_check_runs_through_djangos_framework() -> None:
    with override_settings(MONITORING={"RETENTION_HOURS": -1}):
        errors = checks.run_checks(tags=["monitoring"])
    assert "monitoring.E001" in {e.id for e in errors}


def test_a_database_store_on_in_memory_sqlite_warns() -> None:
    # The test settings' default database is an in-memory SQLite database.
    assert "monitoring.W005" in ids(STORE_URL="database://")
    assert "monitoring.W005" not in ids(STORE_URL="database://pg")
    assert "monitoring.W005" not in ids(STORE_URL="memory://")


def test_a_site_without_the_middleware_is_warned() -> None:
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        found = {message.id: message for message in check_settings()}  # type: ignore[misc]
    assert "QueryMonitoringMiddleware" in found["monitoring.W006"].hint
    assert "monitoring.W006" not in ids()
