"""SQL fingerprints: literal values removed, lists collapsed, results cached."""

from __future__ import annotations

import pytest

from monitoring.recording.sql import FINGERPRINT_CACHE_SIZE, fingerprint_sql, normalise_sql


def test_in_lists_of_any_length_share_one_fingerprint() -> None:
    two = fingerprint_sql('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (%s, %s)')
    four = fingerprint_sql('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (%s, %s, %s, %s)')
    literal = fingerprint_sql('SELECT "t"."id" FROM "t" WHERE "t"."id" IN (1, 2, 3)')
    assert two.id == four.id == literal.id
    assert two.sql == 'SELECT "t"."id" FROM "t" WHERE "t"."id" IN (...)'


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT * FROM t WHERE name = 'O''Brien' AND age > 42",
            "SELECT * FROM t WHERE name = ? AND age > ?",
        ),
        (
            "SELECT * FROM t WHERE x = -3.5e2 AND y = E'a\\'b'",
            "SELECT * FROM t WHERE x = ? AND y = ?",
        ),
        ("UPDATE t SET a = $1 WHERE id = :id", "UPDATE t SET a = ? WHERE id = ?"),
        ("SELECT a FROM t WHERE b = %(b)s LIMIT 21", "SELECT a FROM t WHERE b = ? LIMIT ?"),
        (
            "INSERT INTO t (a, b) VALUES (%s, %s), (%s, %s), (%s, %s)",
            "INSERT INTO t (a, b) VALUES (...)",
        ),
        ("SELECT 1 /* comment with 'secret' */ -- and 99\n FROM t", "SELECT ? FROM t"),
        ("SELECT $tag$secret$tag$ FROM t", "SELECT ? FROM t"),
        ('SAVEPOINT "s140234_x12"', "SAVEPOINT ?"),
        ('RELEASE SAVEPOINT "s140234_x12"', "RELEASE SAVEPOINT ?"),
        ('SELECT "col2", "t1"."x3" FROM "t1"', 'SELECT "col2", "t1"."x3" FROM "t1"'),
    ],
)
def test_literals_are_removed_and_identifiers_kept(sql: str, expected: str) -> None:
    assert normalise_sql(sql) == expected


def test_double_quoted_strings_are_literals_on_mysql() -> None:
    assert normalise_sql('SELECT * FROM `t` WHERE a = "secret"', "mysql") == (
        "SELECT * FROM `t` WHERE a = ?"
    )
    assert normalise_sql('SELECT "a" FROM "t"') == 'SELECT "a" FROM "t"'


@pytest.mark.parametrize(
    ("sql", "operation"),
    [
        ("SELECT 1", "select"),
        ("  (select 1) union (select 2)", "select"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "select"),
        ("INSERT INTO t VALUES (1)", "insert"),
        ("update t set a = 1", "update"),
        ("DELETE FROM t", "delete"),
        ("BEGIN", "other"),
        ("SAVEPOINT s1", "other"),
        ("", "other"),
    ],
)
def test_operation(sql: str, operation: str) -> None:
    assert fingerprint_sql(sql).operation == operation


def test_fingerprints_are_cached_and_the_cache_is_bounded() -> None:
    fingerprint_sql.cache_clear()
    first = fingerprint_sql("SELECT a FROM t WHERE b = %s")
    again = fingerprint_sql("SELECT a FROM t WHERE b = %s")
    assert again is first
    assert fingerprint_sql.cache_info().hits == 1
    for i in range(FINGERPRINT_CACHE_SIZE * 2):
        fingerprint_sql(f"SELECT a FROM t WHERE b = {i}")
    assert fingerprint_sql.cache_info().currsize <= FINGERPRINT_CACHE_SIZE
