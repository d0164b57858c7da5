"""SQL fingerprints: the statement with every literal value removed.

``fingerprint_sql`` is called for every query, so its result is cached per statement text:
a repeated statement (the common case with the ORM's ``%s`` placeholders) costs one dict
look-up, never a regular expression.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import NamedTuple

_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*", re.S)
_SINGLE_QUOTED = re.compile(r"[EeNnXxBb]?'(?:[^'\\]|''|\\.)*'")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]|""|\\.)*"')
_DOLLAR_QUOTED = re.compile(r"\$(\w*)\$.*?\$\1\$", re.S)
_SAVEPOINT = re.compile(r"\b(SAVEPOINT)\s+(\"[^\"]*\"|`[^`]*`|\w+)", re.I)
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|\$\d+|(?<![\w:]):\w+|\?")
_NUMBER = re.compile(r"(?<![\w\"`$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\.\.\.\)(?:\s*,\s*\(\.\.\.\))+")
_SPACE = re.compile(r"\s+")

FINGERPRINT_CACHE_SIZE = 4096
MAX_FINGERPRINT_LENGTH = 2000

OPERATIONS = ("select", "insert", "update", "delete", "other")


class Fingerprint(NamedTuple):
    """A normalised statement, its short stable id and its operation."""

    id: str
    sql: str
    operation: str


def normalise_sql(sql: str, vendor: str = "") -> str:
    """Return ``sql`` with comments, literals and placeholders replaced by ``?``.

    Lists of values collapse, so ``IN (1, 2)`` and ``IN (%s, %s, %s)`` both become
    ``IN (...)``; multi-row ``VALUES`` become one ``(...)``. On MySQL a double-quoted token
    is a string literal; elsewhere it is an identifier and is kept.

    >>> normalise_sql("SELECT * FROM t WHERE a = 'x' AND b IN (1, 2)")
    'SELECT * FROM t WHERE a = ? AND b IN (...)'
    """
    text = _COMMENT.sub(" ", sql)
    text = _SINGLE_QUOTED.sub("?", text)
    text = _DOLLAR_QUOTED.sub("?", text)
    if vendor == "mysql":
        text = _DOUBLE_QUOTED.sub("?", text)
    text = _SAVEPOINT.sub(r"\1 ?", text)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(...)", text)
    text = _ROWS.sub("(...)", text)
    text = _SPACE.sub(" ", text).strip()
    return text[:MAX_FINGERPRINT_LENGTH]


def sql_operation(sql: str) -> str:
    """Classify a statement as select, insert, update, delete or other."""
    word = sql.lstrip(" \t\r\n(").split(None, 1)[0].lower() if sql.strip(" \t\r\n(") else ""
    if word == "with":
        return "select"
    return word if word in OPERATIONS else "other"


@lru_cache(maxsize=FINGERPRINT_CACHE_SIZE)
def fingerprint_sql(sql: str, vendor: str = "") -> Fingerprint:
    """Return the :class:`Fingerprint` of a statement; cached per (statement, vendor)."""
    normalised = normalise_sql(sql, vendor)
    digest = hashlib.blake2b(normalised.encode(), digest_size=6).hexdigest()
    return Fingerprint(digest, normalised, sql_operation(normalised))
