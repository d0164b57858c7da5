"""Per-statement series for the slow-query table: exact values, the top-N cut, no literals."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.db import connection
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from monitoring import config
from monitoring.exposition import STATEMENT_LABEL_CHARS, render
from monitoring.recording import metrics as m
from monitoring.recording.recorder import Recorder
from monitoring.recording.sql import fingerprint_sql
from monitoring.stores.memory import MemoryStore
from shop.models import Category
from tests.conftest import Clock, Monitored, run_promtool

SECONDS = "django_db_fingerprint_duration_seconds_total"
QUERIES = "django_db_fingerprint_queries_total"
INFO = "django_db_fingerprint_info"
SECRET = "secret-literal-4711"
SECRET_NUMBER = 8675309

Query = tuple[str, str, float]  # alias, SQL, seconds


def exposition(clock: Clock, queries: Iterable[Query], top: int = 20, **settings: int) -> str:
    """Record ``queries`` in a fresh recorder and store; return the Prometheus text."""
    recorder = Recorder({**config.get_config(), **settings}, clock=clock)
    for alias, sql, seconds in queries:
        recorder.record_query(alias, "", sql, seconds, None)
    store = MemoryStore(clock=clock)
    store.write(recorder.drain())
    statements = store.read_window(300).data.statements
    body, _ = render(store.read_totals(), statements=statements, top_fingerprints=top)
    return body.decode()


def by_fingerprint(text: str, name: str) -> dict[str, float]:
    return {
        sample.labels["fingerprint"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def info_rows(text: str) -> dict[str, dict[str, str]]:
    return {
        sample.labels["fingerprint"]: sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == INFO
    }


def fid(sql: str) -> str:
    return fingerprint_sql(sql).id


def assert_promtool_clean(text: str) -> None:
    result = run_promtool("check", "metrics", stdin=text.encode())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


def test_exact_totals_summed_over_aliases_with_the_normalised_statement(clock: Clock) -> None:
    select = "SELECT * FROM item WHERE id = 1"
    update = "UPDATE item SET price = 5 WHERE id = 2"
    text = exposition(
        clock,
        [
            ("default", select, 0.125),
            ("default", "SELECT * FROM item WHERE id = 2", 0.25),
            ("replica", "SELECT * FROM item WHERE id = 3", 0.5),
            ("default", update, 0.0625),
            ("default", update.replace("5", "6"), 0.0625),
        ],
    )
    assert by_fingerprint(text, SECONDS) == {fid(select): 0.875, fid(update): 0.125}
    assert by_fingerprint(text, QUERIES) == {fid(select): 3, fid(update): 2}
    assert info_rows(text) == {
        fid(select): {
            "fingerprint": fid(select),
            "statement": "SELECT * FROM item WHERE id = ?",
            "operation": "select",
        },
        fid(update): {
            "fingerprint": fid(update),
            "statement": "UPDATE item SET price = ? WHERE id = ?",
            "operation": "update",
        },
    }
    assert "# TYPE django_db_fingerprint_duration_seconds_total counter" in text
    assert "# TYPE django_db_fingerprint_info gauge" in text
    assert m.OTHER not in by_fingerprint(text, SECONDS)  # nothing to fold


def test_only_the_top_n_by_total_time_keep_series_and_other_is_the_rest(clock: Clock) -> None:
    # Statement i runs i + 1 times for i ms each: total time grows with i, counts do not
    # order the same way as times would if the cut were by count.
    queries = [
        ("default", f"SELECT * FROM table_{i} WHERE x = 1", (25 - i) / 1000)
        for i in range(25)
        for _ in range(i + 1)
    ]
    text = exposition(clock, queries, top=3)
    seconds, counts = by_fingerprint(text, SECONDS), by_fingerprint(text, QUERIES)
    totals = {i: (i + 1) * (25 - i) / 1000 for i in range(25)}
    ranked = sorted(range(25), key=lambda i: -totals[i])
    kept, rest = ranked[:3], ranked[3:]
    assert set(seconds) == {fid(f"SELECT * FROM table_{i} WHERE x = 1") for i in kept} | {"other"}
    for i in kept:
        assert seconds[fid(f"SELECT * FROM table_{i} WHERE x = 1")] == pytest.approx(totals[i])
    assert seconds["other"] == pytest.approx(sum(totals[i] for i in rest))
    assert counts["other"] == sum(i + 1 for i in rest)
    assert sum(counts.values()) == len(queries)
    assert set(info_rows(text)) == set(seconds) - {"other"}  # no info row for "other"
    assert_promtool_clean(text)


def test_statements_folded_by_max_fingerprints_stay_in_other(clock: Clock) -> None:
    queries = [("default", f"SELECT * FROM t{i}", 0.01 * (i + 1)) for i in range(4)]
    text = exposition(clock, queries, top=20, MAX_FINGERPRINTS=2)
    seconds = by_fingerprint(text, SECONDS)
    # The first two statements got ids; the later, slower ones were folded on arrival.
    assert seconds == {
        fid("SELECT * FROM t0"): pytest.approx(0.01),
        fid("SELECT * FROM t1"): pytest.approx(0.02),
        "other": pytest.approx(0.07),
    }
    assert set(info_rows(text)) == {fid("SELECT * FROM t0"), fid("SELECT * FROM t1")}


def test_a_long_statement_is_cut_and_awkward_characters_survive(clock: Clock) -> None:
    columns = ", ".join(f'"weird\\name""{i}"' for i in range(80))
    sql = f'SELECT {columns}\n  FROM "t" WHERE a = 1'
    text = exposition(clock, [("default", sql, 0.01)])
    (row,) = info_rows(text).values()
    assert len(row["statement"]) == STATEMENT_LABEL_CHARS
    assert row["statement"].endswith("\u2026") and "\n" not in row["statement"]
    assert row["statement"][:-1] in " ".join(fingerprint_sql(sql).sql.split())
    assert_promtool_clean(text)


def test_no_statements_no_info_rows(clock: Clock) -> None:
    recorder = Recorder(config.get_config(), clock=clock)
    recorder.record_query("default", "", "SELECT 1", 0.5, None)
    store = MemoryStore(clock=clock)
    store.write(recorder.drain())
    body, _ = render(store.read_totals())  # totals keep no SQL: counters only
    assert by_fingerprint(body.decode(), SECONDS) == {fid("SELECT 1"): 0.5}
    assert info_rows(body.decode()) == {}


def test_openmetrics_shows_the_info_family_as_info(clock: Clock) -> None:
    recorder = Recorder(config.get_config(), clock=clock)
    recorder.record_query("default", "", "DELETE FROM t WHERE id = 3", 0.5, None)
    store = MemoryStore(clock=clock)
    store.write(recorder.drain())
    body, _ = render(
        store.read_totals(),
        statements=store.read_window(300).data.statements,
        openmetrics_format=True,
    )
    text = body.decode()
    assert "# TYPE django_db_fingerprint info\n" in text
    assert 'operation="delete",statement="DELETE FROM t WHERE id = ?"} 1.0' in text
    assert text.endswith("# EOF\n")


# -- through the endpoint, with real queries ------------------------------------------------


def scrape() -> str:
    response = Client().get("/monitoring/metrics/?format=prometheus")
    assert response.status_code == 200
    return response.content.decode()


def run_queries_with_literals() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM shop_category WHERE name = '{SECRET}' OR id = {SECRET_NUMBER}"
        )
    list(Category.objects.filter(name=SECRET, pk=SECRET_NUMBER))
    client = Client()
    for _ in range(3):
        client.get("/t/queries/2/")


@pytest.mark.django_db
def test_the_endpoint_names_statements_and_never_shows_a_literal(monitored: Monitored) -> None:
    run_queries_with_literals()
    text = scrape()
    assert SECRET not in text and str(SECRET_NUMBER) not in text
    seconds, counts = by_fingerprint(text, SECONDS), by_fingerprint(text, QUERIES)
    rows = info_rows(text)
    raw = fid(f"SELECT id FROM shop_category WHERE name = '{SECRET}' OR id = {SECRET_NUMBER}")
    assert rows[raw]["statement"] == "SELECT id FROM shop_category WHERE name = ? OR id = ?"
    assert counts[raw] == 1
    exists = [fp for fp, row in rows.items() if 'FROM "auth_user"' in row["statement"]]
    assert len(exists) == 1 and counts[exists[0]] == 6  # 3 requests x 2 queries
    # The per-statement series add up to the per-alias histogram.
    histogram = {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("django_db_query_duration_seconds_")
        and sample.labels.get("alias") == "default"
        and "le" not in sample.labels
    }
    assert sum(counts.values()) == sum(v for n, v in histogram.items() if n.endswith("_count"))
    assert sum(seconds.values()) == pytest.approx(
        sum(v for n, v in histogram.items() if n.endswith("_sum"))
    )
    assert_promtool_clean(text)


@pytest.mark.django_db
def test_the_endpoint_applies_the_setting(monitored: Monitored) -> None:
    with override_settings(MONITORING={"PROMETHEUS_TOP_FINGERPRINTS": 1}):
        run_queries_with_literals()
        text = scrape()
    seconds = by_fingerprint(text, SECONDS)
    assert len(seconds) == 2 and "other" in seconds
    assert set(info_rows(text)) == set(seconds) - {"other"}
    assert SECRET not in text and str(SECRET_NUMBER) not in text
