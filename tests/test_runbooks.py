"""The operator documentation (docs/*.md, docs/runbooks/*.md) and runbook links.

The docs are held to the product: one runbook per alert rule, linked from the index; every
relative link and anchor resolves; every endpoint they name is a URL of monitoring.urls
(and answers, parameters included); every metric is in the README's tables; every
``manage.py`` command exists; every PromQL snippet parses, and each runbook quotes its
rule's exported Prometheus expression verbatim.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from django.core.management import get_commands
from django.test import Client
from django.urls import Resolver404, resolve

from monitoring.alerts.promql import Unexportable, prometheus_rule
from monitoring.alerts.rules import DEFAULT_RULES, Rule
from monitoring.alerts.runbooks import (
    RULES_WITH_RUNBOOKS,
    RUNBOOK_DIR,
    has_runbook,
    runbook_url,
)
from tests.conftest import run_promtool

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
RUNBOOKS = REPO / RUNBOOK_DIR
REGRESSION_RULE = "performance_regression"
# Commands being added with the baselines and reports (not all in the tree yet).
NEW_COMMANDS = {"record_baseline", "compare_baseline", "monitoring_report"}
# Tokens that look like metric names but are not metrics.
NOT_METRICS = {
    "monitoring_rule": "the label of the exported Prometheus rules",
    "monitoring_report": "a management command",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md")) + sorted(RUNBOOKS.glob("*.md"))


def doc_id(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- Markdown ------------------------------------------------------------------------------

FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


def split_fences(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The lines outside code fences, and the fenced blocks as (language, body)."""
    prose: list[str] = []
    blocks: list[tuple[str, str]] = []
    fence: str | None = None
    language = ""
    body: list[str] = []
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence, language, body = match.group(1)[:3], match.group(2).lower(), []
        elif fence is not None and line.strip().startswith(fence):
            blocks.append((language, "\n".join(body)))
            fence = None
        elif fence is not None:
            body.append(line)
        else:
            prose.append(line)
    assert fence is None, "a code fence is not closed"
    return prose, blocks


def slugify(heading: str) -> str:
    """GitHub's anchor of a heading: links reduced to their text, lower case, everything
    but letters, digits, ``_``, ``-`` and spaces dropped, spaces made ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub does."""
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for line in prose:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = slugify(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(found)


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(path: Path) -> list[str]:
    """The targets of the Markdown links outside code (fences and inline code)."""
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    text = "\n".join(re.sub(r"`[^`\n]*`", "", line) for line in prose)
    return LINK.findall(text)


def test_slugs_follow_github() -> None:
    assert slugify("Demo and tests: the two commands") == "demo-and-tests-the-two-commands"
    assert slugify("`health/` and `readyz/`") == "health-and-readyz"
    assert slugify("The background service: `run_monitoring`") == (
        "the-background-service-run_monitoring"
    )
    assert slugify("Operations, [tuning](x.md) A/B") == "operations-tuning-ab"


# --- Runbooks and the index ----------------------------------------------------------------


def test_every_default_rule_and_the_regression_rule_have_a_runbook() -> None:
    wanted = {rule.name for rule in DEFAULT_RULES} | {REGRESSION_RULE}
    missing = sorted(name for name in wanted if not (RUNBOOKS / f"{name}.md").is_file())
    assert not missing, f"runbooks missing in {RUNBOOK_DIR}: {missing}"
    assert wanted <= set(RULES_WITH_RUNBOOKS)


def test_rules_with_runbooks_is_the_list_of_pages() -> None:
    pages = {path.stem for path in RUNBOOKS.glob("*.md")} - {"index"}
    assert set(RULES_WITH_RUNBOOKS) == pages
    assert len(RULES_WITH_RUNBOOKS) == len(set(RULES_WITH_RUNBOOKS))


def test_the_index_links_every_runbook() -> None:
    targets = {target.split("#")[0] for target in links(RUNBOOKS / "index.md")}
    missing = [name for name in RULES_WITH_RUNBOOKS if f"{name}.md" not in targets]
    assert not missing, f"index.md does not link {missing}"


@pytest.mark.parametrize("name", RULES_WITH_RUNBOOKS)
def test_runbook_has_every_part(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text(encoding="utf-8")
    assert text.startswith(f"# {name}\n")
    for part in (
        "## What it means",
        "## Confirm it",
        "## Likely causes",
        "## First fixes",
        "## When to escalate",
        "## Silence it during a known event",
    ):
        assert f"\n{part}\n" in text, f"{name}.md has no {part!r} section"
    assert f"manage.py silence_alert {name} " in text
    assert f"/monitoring/alerts/history/?rule={name}" in text
    _, blocks = split_fences(text)
    assert any(language == "promql" for language, _ in blocks)
    assert 50 <= len(text.splitlines()) <= 130


def _exportable(rule: Rule) -> bool:
    try:
        prometheus_rule(rule)
    except Unexportable:
        return False  # e.g. performance_regression: the baseline lives in the database
    return True


@pytest.mark.parametrize(
    "rule", [r for r in DEFAULT_RULES if _exportable(r)], ids=lambda rule: rule.name
)
def test_runbook_quotes_the_exported_rule(rule: Rule) -> None:
    """The PromQL that confirms an alert is the expression export_prometheus_rules writes,
    so Prometheus and the runbook agree on what firing means."""
    expression = prometheus_rule(rule)["expr"]
    name = rule.name
    _, blocks = split_fences((RUNBOOKS / f"{name}.md").read_text(encoding="utf-8"))
    promql = "\n".join(body for language, body in blocks if language == "promql")
    assert expression in promql.splitlines(), f"{name}.md does not quote {expression}"


# --- Links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", doc_files(), ids=doc_id)
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    found = links(path)
    broken = []
    for target in found:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert not broken, broken


def test_readme_anchor_links_resolve() -> None:
    """Links into the README name headings it has (checked apart, as the README changes)."""
    wanted = {
        target.partition("#")[2]
        for path in doc_files()
        for target in links(path)
        if target.partition("#")[0].endswith("README.md") and "#" in target
    }
    assert wanted, "the docs link no README section"
    assert wanted <= anchors(README), sorted(wanted - anchors(README))


# --- Endpoints -----------------------------------------------------------------------------

ENDPOINT = re.compile(
    r"(?<![\w.-])monitoring/((?:[a-z0-9_-]+/)*)(?![\w.-])(\?[^\s`'\"()<>\[\]|]*)?"
)


def endpoints() -> list[tuple[str, str, str]]:
    """(document, path, query) of every ``monitoring/<path>/`` the docs mention."""
    found = []
    for path in doc_files():
        for match in ENDPOINT.finditer(path.read_text(encoding="utf-8")):
            found.append((doc_id(path), match.group(1), (match.group(2) or "").rstrip(".,;:")))
    return found


def test_docs_name_endpoints() -> None:
    paths = {path for _, path, _ in endpoints()}
    assert {"health/", "dashboard/", "performance/queries/", "alerts/history/"} <= paths


def test_every_endpoint_mentioned_is_a_monitoring_url() -> None:
    unknown = []
    for document, path, _ in endpoints():
        try:
            match = resolve(f"/monitoring/{path}")
        except Resolver404:
            unknown.append(f"{document}: monitoring/{path}")
            continue
        if match.namespace != "monitoring":
            unknown.append(f"{document}: monitoring/{path} is not in monitoring.urls")
    assert not unknown, unknown


@pytest.mark.django_db
def test_every_endpoint_with_parameters_answers(monitored: object) -> None:
    """The parameters the docs show are taken: an unknown or malformed one would be a 400."""
    urls = sorted({f"/monitoring/{path}{query}" for _, path, query in endpoints() if query})
    assert len(urls) > 10
    refused = {}
    for url in urls:
        response = Client().get(url)  # from 127.0.0.1: an allowed address
        if response.status_code != 200:
            refused[url] = (response.status_code, response.content[:200])
    assert not refused, refused


# --- Metrics, commands ---------------------------------------------------------------------


@cache
def readme_metrics() -> frozenset[str]:
    """The metric names of the README's tables, with the series of each histogram."""
    names = set()
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`((?:django|monitoring)_[a-z0-9_]+)`\s*\|\s*([^|]*)\|", line)
        if match:
            names.add(match.group(1))
            if match.group(2).strip() == "histogram":
                names.update(match.group(1) + suffix for suffix in HISTOGRAM_SUFFIXES)
    return frozenset(names)


def test_readme_metric_tables_are_found() -> None:
    assert {
        "django_http_requests_total",
        "django_http_request_duration_seconds_bucket",
        "monitoring_alert_notifications_pending",
    } <= readme_metrics()


@pytest.mark.parametrize("path", doc_files(), ids=doc_id)
def test_every_metric_mentioned_is_in_the_readme(path: Path) -> None:
    tokens = set(
        re.findall(r"(?<![\w.])((?:django|monitoring)_[a-z0-9_]+)", path.read_text("utf-8"))
    )
    unknown = sorted(tokens - readme_metrics() - set(NOT_METRICS))
    assert not unknown, unknown


def known_commands() -> set[str]:
    ours = {p.stem for p in (REPO / "monitoring/management/commands").glob("[!_]*.py")}
    django = {name for name, app in get_commands().items() if app == "django.core"}
    return ours | django | NEW_COMMANDS


@pytest.mark.parametrize("path", doc_files(), ids=doc_id)
def test_every_command_mentioned_exists(path: Path) -> None:
    commands = set(re.findall(r"manage\.py\s+([a-z_]+)", path.read_text(encoding="utf-8")))
    assert not commands - known_commands(), sorted(commands - known_commands())


# --- PromQL --------------------------------------------------------------------------------


def promql_snippets() -> Iterator[tuple[str, str]]:
    """(document, expression) of every expression in a ```promql block: one expression per
    line; blank lines and ``#`` comment lines between them."""
    for path in doc_files():
        _, blocks = split_fences(path.read_text(encoding="utf-8"))
        for language, body in blocks:
            if language != "promql":
                continue
            for line in body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    yield doc_id(path), line.strip()


def test_every_promql_snippet_parses(tmp_path: Path) -> None:
    snippets = list(promql_snippets())
    assert len(snippets) > 20
    rules = [
        {"record": f"docs:snippet_{i}", "expr": expression}
        for i, (_, expression) in enumerate(snippets)
    ]
    # JSON is YAML: no quoting surprises in the expressions.
    rules_file = tmp_path / "docs-snippets.yml"
    rules_file.write_text(json.dumps({"groups": [{"name": "docs", "rules": rules}]}))
    result = run_promtool("check", "rules", str(rules_file))
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, output + "\n" + "\n".join(f"{d}: {e}" for d, e in snippets)


# --- runbook_url ---------------------------------------------------------------------------


def test_runbook_dir_is_the_folder_in_the_repository() -> None:
    assert RUNBOOK_DIR == "docs/runbooks"
    assert (REPO / RUNBOOK_DIR / "index.md").is_file()


def test_runbook_url_of_a_rule_with_a_page() -> None:
    base = "https://git.example.com/shop/blob/main/docs/runbooks"
    assert runbook_url("high_error_rate", base) == f"{base}/high_error_rate.md"
    assert runbook_url("high_error_rate", base + "/") == f"{base}/high_error_rate.md"
    assert runbook_url("high_error_rate", base + "//") == f"{base}/high_error_rate.md"
    assert runbook_url("performance_regression", "https://wiki.example.com/") == (
        "https://wiki.example.com/performance_regression.md"
    )
    for name in RULES_WITH_RUNBOOKS:
        assert has_runbook(name)
        assert runbook_url(name, base) == f"{base}/{name}.md"


def test_no_runbook_url_without_a_page_or_a_base() -> None:
    assert not has_runbook("checkout_slow")
    assert not has_runbook("index")
    assert runbook_url("checkout_slow", "https://wiki.example.com/runbooks") is None
    assert runbook_url("index", "https://wiki.example.com/runbooks") is None
    assert runbook_url("high_error_rate", None) is None
    assert runbook_url("high_error_rate", "") is None
