"""The dashboard page in a real browser: Debian's Chromium driven by Playwright, against the
example shop served by gunicorn on 127.0.0.1 with real traffic.

The site's allowlist does not include 127.0.0.1 (``MONITORING_ALLOWED_IPS``), so the
browser is refused until it logs in through the admin's login form, and the page's own
requests to the JSON endpoints are admitted by the session cookie alone. Needs
``/usr/bin/chromium`` (Debian package ``chromium``) and ``playwright`` from PyPI; no
browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
USERNAME = "ops"
PASSWORD = "browser-test-password-not-a-secret"
TOKEN = "browser-test-token-not-a-secret"
SCREENSHOT = REPO / "test-output" / "ui-dashboard.png"  # and -dark.png, -empty.png
# The example project's settings with a database file of the test's own, and buckets
# flushed every second so that the traffic shows up quickly.
SETTINGS = """\
from exampleproject.settings import *  # noqa: F403

DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
MONITORING = {{
    "FLUSH_INTERVAL": 1,
    "ALERT_RULES": {{"high_error_rate": {{"runbook_url": "https://runbooks.example.com/5xx"}}}},
}}
"""
# What the background service would have written during an incident: a firing alert, its
# transition with a notification that failed, and a silence.
ALERT_ROWS = """
from datetime import timedelta
from django.utils import timezone
from monitoring.models import AlertEvent, AlertState, Notification, Silence
now = timezone.now()
AlertState.objects.create(
    rule="high_error_rate", status="firing", severity="critical", value=0.2, threshold=0.05,
    active_since=now - timedelta(minutes=3), fired_at=now - timedelta(minutes=2),
    evaluated_at=now, dedup_key="monitoring/high_error_rate",
)
event = AlertEvent.objects.create(
    rule="high_error_rate", severity="critical", from_state="pending", to_state="firing",
    value=0.2, threshold=0.05, operator=">", metric="error_rate", window_seconds=300,
    at=now - timedelta(minutes=2),
)
Notification.objects.create(
    event=event, channel="webhook", kind="firing", dedup_key="k", payload={}, status="failed",
    attempts=3, created_at=now, next_attempt_at=now, last_error="connection refused",
)
Silence.objects.create(
    route="/checkout/", starts_at=now, ends_at=now + timedelta(hours=1),
    comment="payment provider maintenance", created_by="ops",
)
"""


def require_browser() -> Any:
    """Playwright's sync API, or a skip (in CI a failure) saying what is missing."""
    problems = []
    if not Path(CHROMIUM).is_file():
        problems.append(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problems.append("the Python package playwright is not installed (pip install playwright)")
    if problems:
        reason = "; ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must provide it (scripts/services.sh, the test extra)")
        pytest.skip(f"{reason}: the browser tests of the dashboard page need both")
    return sync_playwright


def wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> None:
    argv = [sys.executable, "example/manage.py", *args]
    done = subprocess.run(argv, cwd=REPO, env=env, timeout=timeout, capture_output=True, text=True)
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stderr}"


def get(url: str, token: bool = False) -> tuple[int, bytes]:
    """(status, body) of a GET, 0 when nothing answers; with the token when asked."""
    headers = {"Authorization": f"Bearer {TOKEN}"} if token else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except OSError:
        return 0, b""


def site_env(tmp: Path) -> dict[str, str]:
    """The example project, on a database of the test's own, with a staff user to make."""
    (tmp / "ui_browser_settings.py").write_text(SETTINGS.format(db=str(tmp / "shop.sqlite3")))
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp), str(REPO), str(REPO / "example")]),
        "DJANGO_SETTINGS_MODULE": "ui_browser_settings",
        "DEBUG": "1",  # the example serves its static files itself only with DEBUG on
        # TEST-NET-1: the browser on 127.0.0.1 is not allowlisted, so it must log in.
        "MONITORING_ALLOWED_IPS": "192.0.2.1/32",
        "MONITORING_TOKEN": TOKEN,
        "DJANGO_SUPERUSER_USERNAME": USERNAME,
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "DJANGO_SUPERUSER_EMAIL": "ops@example.com",
    }


def start_gunicorn(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """gunicorn serving the example on a free port: (its URL, the process)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "exampleproject.wsgi:application"]
    command += ["--workers", "2", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
    process = subprocess.Popen(
        command, cwd=REPO / "example", env=env, stdout=subprocess.DEVNULL, stderr=log.open("w")
    )

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log.read_text()}")
        return get(f"http://127.0.0.1:{port}/monitoring/healthz/")[0] == 200

    wait_until(up, 60, "gunicorn to answer")
    return f"http://127.0.0.1:{port}", process


def send_traffic(env: dict[str, str], url: str) -> None:
    traffic = f"generate_traffic --base-url {url} --requests 150 --concurrency 4"
    manage(env, *traffic.split(), timeout=180)

    def recorded() -> bool:
        status, body = get(f"{url}/monitoring/dashboard/?window=5m", token=True)
        routes = {row["route"] for row in json.loads(body)["endpoints"]} if status == 200 else ()
        return {"/products/", "/products/<int:pk>/"} <= set(routes)

    # Each worker flushes its buckets every second (FLUSH_INTERVAL above).
    wait_until(recorded, 60, "the traffic to reach the dashboard document")


@pytest.fixture(scope="module")
def sync_playwright() -> Any:
    return require_browser()


@pytest.fixture(scope="module")
def site(sync_playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example shop's URL, with traffic recorded."""
    tmp = tmp_path_factory.mktemp("ui-browser")
    env = site_env(tmp)
    for command in ("migrate --noinput -v 0", "seed_shop", "createsuperuser --noinput"):
        manage(env, *command.split())
    manage(env, "shell", "-v", "0", "-c", ALERT_ROWS)
    url, process = start_gunicorn(env, tmp / "gunicorn.log")
    try:
        send_traffic(env, url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Problems:
    """What the browser reported as going wrong on a page."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))


def log_in(page: Any, site: str) -> None:
    """Open the page, get sent to the admin login, fill in its form, come back."""
    page.goto(site + "/monitoring/")
    assert re.search(r"/admin/login/\?next=/monitoring/$", page.url), page.url
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(site + "/monitoring/")


@pytest.fixture
def dashboard(browser: Any, site: str) -> Iterator[tuple[Any, Problems]]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = Problems()
    log_in(page, site)
    problems.watch(page)
    page.reload()  # watched from the first byte of the page
    page.wait_for_selector("#mon-endpoints tbody th.mon-route")
    try:
        yield page, problems
    finally:
        context.close()


def routes_shown(page: Any) -> list[str]:
    return [text.strip() for text in page.locator("#mon-endpoints tbody th").all_inner_texts()]


def column(page: Any, index: int) -> list[str]:
    return page.locator(f"#mon-endpoints tbody tr td:nth-child({index})").all_inner_texts()


def test_an_anonymous_visitor_is_sent_to_the_login(browser: Any, site: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(site + "/monitoring/ui/")
        assert response is not None and response.ok
        assert page.url == site + "/admin/login/?next=/monitoring/ui/"
        html = page.content()
        assert 'name="password"' in html
        assert "monitoring-config" not in html and "mon-endpoints" not in html
        # Nor do the JSON documents answer the browser without a session.
        api = context.request.get(site + "/monitoring/dashboard/")
        assert api.status == 401 and api.json() == {"error": "authentication required"}
    finally:
        context.close()


def test_the_page_draws_the_site_after_logging_in(dashboard: tuple[Any, Problems]) -> None:
    page, problems = dashboard
    routes = routes_shown(page)
    assert {"/products/", "/products/<int:pk>/"} <= set(routes), routes
    # Django 4.2's admin header is an h1 of its own ("Django administration").
    assert page.get_by_role("heading", level=1, name="Monitoring dashboard").count() == 1
    for name in ("requests", "errors", "latency"):
        canvas = page.locator(f"#mon-chart-{name} canvas").first
        box = canvas.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, (name, box)
    drawn = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.monitoringDashboard.state.charts)
            .map(([name, chart]) => [name, chart.data.slice(1)
              .map(values => values.filter(v => v !== null && v > 0).length)]))"""
    )
    assert all(drawn["requests"][:1]) and drawn["latency"][0] > 0, drawn
    assert page.locator("#mon-chart-requests-summary").inner_text().endswith(".")
    assert "requests over the last 5 minutes" in page.inner_text("#mon-chart-requests-summary")
    score = page.inner_text("#mon-score")
    assert re.match(r"^\d{1,3}", score), score
    assert page.inner_text("#mon-health") in {"✓ ok", "! degraded", "✕ error"}
    assert page.locator("#mon-checks tbody tr").count() >= 4
    assert page.locator("#mon-nplusone tbody tr", has_text="/products/n-plus-one/").count() >= 1
    assert page.locator("#mon-prefixes tbody tr", has_text="product").count() >= 1
    assert not page.locator("#mon-empty").is_visible()
    # No baseline recorded on this site: the page says how to record one.
    assert "manage.py record_baseline NAME" in page.inner_text("#mon-baseline")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"screenshot of the dashboard page: {SCREENSHOT}")
    # The admin's dark theme: the charts are drawn again in its colours.
    page.emulate_media(color_scheme="dark")
    page.wait_for_function(
        "() => window.monitoringDashboard.state.charts.latency._theme === 'dark'"
    )
    dark = SCREENSHOT.with_name("ui-dashboard-dark.png")
    page.screenshot(path=str(dark), full_page=True)
    print(f"screenshot in the dark theme: {dark}")
    assert problems.errors == []


def test_the_window_selector_changes_the_data(dashboard: tuple[Any, Problems]) -> None:
    page, problems = dashboard
    span = """() => {
        const x = window.monitoringDashboard.state.charts.requests.scales.x;
        return x.max - x.min;
    }"""
    assert abs(page.evaluate(span) - 300) < 15
    with page.expect_response(lambda r: "/monitoring/dashboard/?window=1h" in r.url) as answer:
        page.select_option("#mon-window", "1h")
    assert answer.value.status == 200
    page.wait_for_function(
        "() => window.monitoringDashboard.state.charts.requests._window === '1h'"
    )
    assert abs(page.evaluate(span) - 3600) < 65
    assert page.url.endswith("/monitoring/?window=1h")
    assert page.locator(".mon-window-label").first.inner_text() == "1 hour"
    assert "requests over the last 1 hour" in page.inner_text("#mon-chart-requests-summary")
    # The other documents follow the window too.
    with page.expect_request(lambda r: "/performance/queries/?window=6h" in r.url):
        page.select_option("#mon-window", "6h")
    pause = page.locator("#mon-pause")
    pause.click()
    assert pause.get_attribute("aria-pressed") == "true"
    assert page.inner_text("#mon-status").startswith("Paused")
    with page.expect_request(lambda r: "/monitoring/dashboard/?window=6h" in r.url):
        pause.click()  # resuming fetches at once
    assert pause.get_attribute("aria-pressed") == "false"
    assert problems.errors == []


def test_sorting_by_a_column_reorders_the_rows(dashboard: tuple[Any, Problems]) -> None:
    page, problems = dashboard
    route_header = page.locator("#mon-endpoints thead th[data-key=route]")
    route_header.locator("button").click()
    assert route_header.get_attribute("aria-sort") == "ascending"
    ascending = routes_shown(page)
    assert ascending == sorted(ascending, key=lambda r: r.lower()) or ascending == sorted(
        ascending
    ), ascending
    route_header.locator("button").click()
    assert route_header.get_attribute("aria-sort") == "descending"
    assert routes_shown(page) == list(reversed(ascending))
    p95 = page.locator("#mon-endpoints thead th[data-key=p95_ms]")
    p95.locator("button").click()
    assert p95.get_attribute("aria-sort") == "descending"
    assert route_header.get_attribute("aria-sort") is None  # one sorted column at a time
    values = [float(v.replace(",", "")) for v in column(page, 6) if v != "—"]
    assert values == sorted(values, reverse=True) and len(values) >= 3, values
    assert routes_shown(page) != ascending
    assert problems.errors == []


def test_the_keyboard_reaches_the_window_selector_and_sorts(
    dashboard: tuple[Any, Problems],
) -> None:
    page, problems = dashboard
    page.locator("body").focus()
    reached: list[str] = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement;
                 const th = e.closest('#mon-endpoints thead th');
                 return e.id || (th ? 'sort:' + th.dataset.key : e.tagName); }"""
        )
        reached.append(focused)
        if focused.startswith("sort:"):
            break
    assert "mon-window" in reached, reached
    assert reached[-1] == "sort:route", reached
    page.keyboard.press("Enter")
    header = page.locator("#mon-endpoints thead th[data-key=route]")
    assert header.get_attribute("aria-sort") == "ascending"
    page.keyboard.press(" ")
    assert header.get_attribute("aria-sort") == "descending"
    assert problems.errors == []


def test_no_traffic_is_explained(browser: Any, site: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, site)

        def no_traffic(route: Any) -> None:
            # The real document, as a site without requests would answer it.
            document = route.fetch().json()
            document["summary"]["requests"] = {
                **dict.fromkeys(["total", "per_second", "errors_5xx", "exceptions"], 0),
                **dict.fromkeys(["error_rate", "p50_ms", "p95_ms", "p99_ms"]),
            }
            document["summary"]["cache"] = {"hits": 0, "misses": 0, "hit_rate": None}
            document["series"]["points"], document["endpoints"] = [], []
            document["health_score"] = 100
            route.fulfill(json=document)

        page.route(re.compile(r".*/monitoring/dashboard/\?.*"), no_traffic)
        page.reload()
        notice = page.locator("#mon-empty")
        notice.wait_for(state="visible")
        text = notice.inner_text()
        assert text.startswith("No requests recorded in the last 5 minutes.")
        assert "is the middleware installed" in text
        empty_table = page.inner_text("#mon-endpoints tbody").strip()
        assert empty_table == "No requests in the last 5 minutes."
        page.screenshot(path=str(SCREENSHOT.with_name("ui-dashboard-empty.png")))
    finally:
        context.close()


def test_each_alert_links_to_its_history_and_runbook(dashboard: tuple[Any, Problems]) -> None:
    page, problems = dashboard
    row = page.locator("#mon-alerts tbody tr", has_text="high_error_rate")
    assert row.locator("td").first.inner_text() == "✕ firing"
    links = {link.inner_text(): link.get_attribute("href") for link in row.locator("a").all()}
    assert links == {
        "History": "/admin/monitoring/alertevent/?rule=high_error_rate",
        "History (JSON)": "/monitoring/alerts/history/?rule=high_error_rate",
        "Runbook": "https://runbooks.example.com/5xx",
    }
    assert page.inner_text("#mon-alert-count") == "✕ 1"
    history = page.inner_text("#mon-history tbody")
    assert "pending → ✕ firing" in history and "webhook failed (3 attempts)" in history
    assert "payment provider maintenance" in page.inner_text("#mon-silences tbody")
    assert problems.errors == []
    row.get_by_role("link", name="History", exact=True).click()
    page.wait_for_url("**/admin/monitoring/alertevent/?rule=high_error_rate")
    assert page.locator("#result_list tbody tr").count() == 1
