"""Runbook links for alert rules: which rules have a page, and the URL of that page.

The runbooks are Markdown pages in the repository's ``docs/runbooks/`` folder, one per
rule, named ``<rule>.md``. That folder is not part of the installed package, so which
rules have a page is a fixed list, :data:`RULES_WITH_RUNBOOKS` (the test suite holds it
equal to the files present). A site publishes the folder somewhere (its wiki, a Git
host) and gives its base URL; :func:`runbook_url` then names each rule's page::

    >>> runbook_url("high_error_rate", "https://git.example.com/ops/docs/runbooks/")
    'https://git.example.com/ops/docs/runbooks/high_error_rate.md'
    >>> runbook_url("checkout_slow", "https://git.example.com/ops/docs/runbooks") is None
    True

Pure functions: nothing here reads settings.
"""

from __future__ import annotations

# The runbooks folder, relative to the root of the repository (not of the package).
RUNBOOK_DIR = "docs/runbooks"

# Every rule with a page ``RUNBOOK_DIR/<rule>.md``: the seven defaults, in their order,
# then the baseline regression rule.
RULES_WITH_RUNBOOKS: tuple[str, ...] = (
    "high_error_rate",
    "very_high_response_time",
    "database_connection_errors",
    "high_response_time",
    "slow_database_queries",
    "low_cache_hit_rate",
    "high_query_count",
    "performance_regression",
)

_WITH_RUNBOOKS = frozenset(RULES_WITH_RUNBOOKS)


def has_runbook(rule_name: str) -> bool:
    """Whether ``rule_name`` has a page in :data:`RUNBOOK_DIR`."""
    return rule_name in _WITH_RUNBOOKS


def runbook_url(rule_name: str, base_url: str | None) -> str | None:
    """The URL of ``rule_name``'s runbook under ``base_url`` (the published
    :data:`RUNBOOK_DIR`), or None when there is no base URL or the rule has no page."""
    if not base_url or not has_runbook(rule_name):
        return None
    return base_url.rstrip("/") + "/" + rule_name + ".md"
