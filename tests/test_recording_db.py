"""Database recording against real SQLite and PostgreSQL: queries, errors, connections, pools.

Every test reads what monitoring recorded through ``monitored.window()`` and asserts exact
numbers. Views, a middleware and a URLconf used only here are defined in this module; the
autouse ``_urls`` fixture makes it the ROOT_URLCONF (it also serves the project's URLs).

Tests that use ``pg`` also name ``default``: ``pg`` depends on it (Django's default
TEST["DEPENDENCIES"]) and pytest-django sets up only the aliases the selected tests name,
so a test naming ``pg`` alone could not be run on its own ("Circular dependency").
"""

from __future__ import annotations

import io
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import django
import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    connections,
    transaction,
)
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone

from monitoring.recording import metrics as m
from monitoring.recording.aggregate import Histogram
from monitoring.recording.context import muted
from monitoring.recording.db import ConnectionGuard, QueryRecorder
from monitoring.recording.safety import internal_error_counts
from monitoring.system import pool_usage
from monitoring.window import Window
from shop.models import Category
from tests import urls as project_urls
from tests.servers import free_port

# -- views, middleware and URLs used by these tests ---------------------------------------


def three_queries(request: HttpRequest, pk: int) -> HttpResponse:
    """Exactly three queries, each with its own statement."""
    Category.objects.filter(pk=pk).exists()
    Category.objects.count()
    list(Category.objects.order_by("pk")[:5])
    return HttpResponse("three")


def create_session(request: HttpRequest) -> HttpResponse:
    """One INSERT; a post_save handler connected by the test may add queries of its own."""
    Session.objects.create(
        session_key=uuid.uuid4().hex,
        session_data="",
        expire_date=timezone.now() + timedelta(days=1),
    )
    return HttpResponse("created")


def repeat_four_times(request: HttpRequest) -> HttpResponse:
    """One statement four times: below the default N+1 threshold of 5."""
    for pk in range(1, 5):
        list(Category.objects.filter(pk=pk))
    return HttpResponse("repeated")


def slow_and_fast(request: HttpRequest) -> HttpResponse:
    with connections["pg"].cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.08)")
        cursor.execute("SELECT 1")
    return HttpResponse("slept")


class QueryingMiddleware:
    """Runs one query before the view, as authentication or tenancy middleware would."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return self.get_response(request)


urlpatterns = [
    path("db/three/<int:pk>/", three_queries),
    path("db/session/", create_session),
    path("db/repeat/", repeat_four_times),
    path("db/slow/", slow_and_fast),
    *project_urls.urlpatterns,
]

SECRET = "secret-literal-123"
SECRET_NUMBER = 987654
LITERAL_SQL = f"SELECT id FROM shop_category WHERE name = '{SECRET}' OR id = {SECRET_NUMBER}"


@pytest.fixture(autouse=True)
def _urls() -> Iterator[None]:
    with override_settings(ROOT_URLCONF=__name__):
        yield


# -- helpers ------------------------------------------------------------------------------


def query_counts(window: Window) -> dict[tuple[str, str], int]:
    """{(alias, operation): number of queries} from QUERY_DURATION."""
    return {
        (labels["alias"], labels["operation"]): hist.count  # type: ignore[attr-defined]
        for labels, hist in window.series(m.QUERY_DURATION)
    }


def histogram(window: Window, metric: m.Metric, **match: str) -> Histogram:
    hist = window.histogram(metric, **match)
    assert hist is not None, f"no {metric.name} series matching {match}"
    return hist


def fingerprint_of(window: Window, statement: str) -> str:
    """The id of the one fingerprint whose normalised SQL is ``statement``."""
    ids = [fp for fp, sql in window.data.statements.items() if sql == statement]
    assert len(ids) == 1, f"{statement!r} not among {window.data.statements}"
    return ids[0]


def seed_shop() -> None:
    """Seed the example shop without recording the seeding itself."""
    with muted():
        call_command("seed_shop", stdout=io.StringIO())


def session_row(alias: str, key: str) -> None:
    Session.objects.using(alias).create(
        session_key=key, session_data="x", expire_date=timezone.now() + timedelta(days=1)
    )


def in_thread(function: Callable[[], Any]) -> Any:
    """Run ``function`` in a new thread (new connection objects); return or raise its result."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = function()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the thread did not finish"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


@contextmanager
def connected(signal: Any, handler: Callable[..., None], sender: type) -> Iterator[None]:
    signal.connect(handler, sender=sender, weak=False)
    try:
        yield
    finally:
        signal.disconnect(handler, sender=sender)


@contextmanager
def postgres_alias(alias: str, **overrides: Any) -> Iterator[None]:
    """A PostgreSQL alias added at run time, like ``pg`` but with ``overrides``.

    ``override_settings(DATABASES=...)`` is not enough: ``connections`` reads DATABASES once
    and caches it, so the alias goes into the handler's settings (with Django's defaults).
    """
    pg = connections.settings["pg"]
    entry = {key: pg[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST")}
    configured = connections.configure_settings(
        {**connections.settings, alias: {**entry, **overrides}}
    )
    connections.settings[alias] = configured[alias]
    try:
        yield
    finally:
        try:
            connections[alias].close()
            del connections[alias]
        finally:
            del connections.settings[alias]


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        thread.join(5)
        for sock in accepted:
            sock.close()


def is_instrumented(conn: Any) -> bool:
    return any(isinstance(w, QueryRecorder) for w in conn.execute_wrappers)


# -- 1. every query on every alias ----------------------------------------------------------


@pytest.mark.django_db(databases=["default", "pg"])
def test_orm_and_raw_queries_are_recorded_with_alias_and_operation(monitored: Any) -> None:
    for alias in ("default", "pg"):
        sessions = Session.objects.using(alias)
        session_row(alias, "k1")
        sessions.filter(pk="k1").update(session_data="y")
        assert [s.session_data for s in sessions.filter(pk="k1")] == ["y"]
        sessions.filter(pk="k1").delete()
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")

    expected = {"insert": 1, "update": 1, "select": 2, "delete": 1}
    assert query_counts(monitored.window()) == {
        (alias, op): n for alias in ("default", "pg") for op, n in expected.items()
    }


@pytest.mark.django_db(databases=["default"])
def test_a_request_records_its_number_of_queries_under_its_route_pattern(
    monitored: Any,
) -> None:
    assert Client().get("/db/three/7/").status_code == 200

    window = monitored.window()
    per_request = histogram(window, m.QUERIES_PER_REQUEST, route="/db/three/<int:pk>/")
    assert (per_request.count, per_request.sum) == (1, 3)
    assert window.by(m.QUERIES_PER_REQUEST, "route").keys() == {"/db/three/<int:pk>/"}
    assert query_counts(window) == {("default", "select"): 3}
    assert window.by(m.FINGERPRINT_ROUTES, "route") == {"/db/three/<int:pk>/": 3}
    assert window.total(m.REQUESTS, route="/db/three/<int:pk>/", status="200") == 1


@pytest.mark.django_db(databases=["default"])
def test_queries_from_signal_handlers_and_middleware_count_toward_the_request(
    monitored: Any,
) -> None:
    def count_sessions(sender: type, using: str, **kwargs: Any) -> None:
        Session.objects.using(using).count()

    middleware = [*settings.MIDDLEWARE, f"{__name__}.QueryingMiddleware"]
    with (
        override_settings(MIDDLEWARE=middleware),
        connected(post_save, count_sessions, Session),
    ):
        assert Client().get("/db/session/").status_code == 200

    window = monitored.window()
    per_request = histogram(window, m.QUERIES_PER_REQUEST, route="/db/session/")
    # The view's INSERT, the handler's COUNT and the middleware's SELECT 1.
    assert (per_request.count, per_request.sum) == (1, 3)
    assert query_counts(window) == {("default", "insert"): 1, ("default", "select"): 2}
    assert window.total(m.FINGERPRINT_ROUTES, route="/db/session/") == 3
    assert Session.objects.count() == 1


# -- 2. fingerprints ------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default"])
def test_in_lists_of_any_length_share_one_fingerprint(monitored: Any) -> None:
    list(Category.objects.filter(pk__in=[1, 2]))
    list(Category.objects.filter(pk__in=[1, 2, 3, 4]))

    window = monitored.window()
    fingerprints = window.by(m.FINGERPRINT_DURATION, "fingerprint")
    assert len(fingerprints) == 1
    [(fingerprint, hist)] = fingerprints.items()
    assert hist.count == 2  # type: ignore[union-attr]
    assert window.statement(fingerprint) == (
        'SELECT "shop_category"."id", "shop_category"."name" FROM "shop_category" '
        'WHERE "shop_category"."id" IN (...) ORDER BY "shop_category"."name" ASC'
    )


@pytest.mark.django_db(databases=["default", "pg"])
def test_literal_values_never_reach_statements_or_the_metrics_endpoints(
    monitored: Any,
) -> None:
    for alias in ("default", "pg"):
        with connections[alias].cursor() as cursor:
            cursor.execute(LITERAL_SQL)
        list(Category.objects.using(alias).filter(name=SECRET, pk=SECRET_NUMBER))

    window = monitored.window()
    literal = fingerprint_of(window, "SELECT id FROM shop_category WHERE name = ? OR id = ?")
    assert histogram(window, m.FINGERPRINT_DURATION, fingerprint=literal).count == 2
    assert len(window.data.statements) == 2  # the raw statement and the ORM one
    for statement in window.data.statements.values():
        assert SECRET not in statement and str(SECRET_NUMBER) not in statement

    client = Client()
    summary = client.get("/monitoring/metrics/")
    exposition = client.get("/monitoring/metrics/?format=prometheus")
    assert (summary.status_code, exposition.status_code) == (200, 200)
    assert summary.json()["database"]["queries"] == 4
    assert 'django_db_query_duration_seconds_count{alias="pg"' in exposition.content.decode()
    for body in (summary.content.decode(), exposition.content.decode()):
        assert SECRET not in body and str(SECRET_NUMBER) not in body


# -- 3. N+1 ---------------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default"])
def test_the_shop_n_plus_one_view_is_detected(monitored: Any) -> None:
    seed_shop()
    route = "/products/n-plus-one/"

    with CaptureQueriesContext(connection) as captured:
        response = Client().get(route)
    assert response.status_code == 200
    category_queries = [q for q in captured.captured_queries if 'FROM "shop_category"' in q["sql"]]
    repetitions = len(category_queries)
    assert repetitions == len(response.json()["products"]) == 20

    window = monitored.window()
    [(fingerprint, suspects)] = window.by(m.N_PLUS_ONE, "fingerprint", route=route).items()
    assert suspects == 1
    assert window.by(m.N_PLUS_ONE_MAX, "fingerprint", route=route) == {fingerprint: repetitions}
    assert window.statement(fingerprint) == (
        'SELECT "shop_category"."id", "shop_category"."name" FROM "shop_category" '
        'WHERE "shop_category"."id" = ? LIMIT ?'
    )
    assert histogram(window, m.QUERIES_PER_REQUEST, route=route).sum == repetitions + 1


@pytest.mark.django_db(databases=["default"])
def test_four_repetitions_are_below_the_default_threshold(monitored: Any) -> None:
    assert Client().get("/db/repeat/").status_code == 200

    window = monitored.window()
    assert window.by(m.FINGERPRINT_ROUTES, "route") == {"/db/repeat/": 4}
    assert list(window.series(m.N_PLUS_ONE)) == []
    assert list(window.series(m.N_PLUS_ONE_MAX)) == []


@pytest.mark.parametrize("threshold", [3, 4])
@pytest.mark.django_db(databases=["default"])
def test_a_threshold_at_or_below_four_turns_four_repetitions_into_an_n_plus_one(
    monitored: Any, threshold: int
) -> None:
    with override_settings(MONITORING={"N_PLUS_ONE_THRESHOLD": threshold}):
        assert Client().get("/db/repeat/").status_code == 200
        window = monitored.window()

    [fingerprint] = window.by(m.FINGERPRINT_ROUTES, "fingerprint", route="/db/repeat/")
    assert window.by(m.N_PLUS_ONE, "fingerprint", route="/db/repeat/") == {fingerprint: 1}
    assert window.by(m.N_PLUS_ONE_MAX, "fingerprint", route="/db/repeat/") == {fingerprint: 4}


# -- 4. slow queries ------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "pg"])
def test_a_slow_query_is_kept_with_fingerprint_alias_route_and_duration(
    monitored: Any,
) -> None:
    with override_settings(MONITORING={"SLOW_QUERY_MS": 50}):
        assert Client().get("/db/slow/").status_code == 200
        window = monitored.window()

    [slow] = window.data.slow_queries
    assert slow.fingerprint == fingerprint_of(window, "SELECT pg_sleep(...)")
    assert (slow.alias, slow.route) == ("pg", "/db/slow/")
    assert slow.duration >= 0.08
    assert window.by(m.SLOW_QUERIES, "route", alias="pg") == {"/db/slow/": 1}
    # The fast statement was recorded, just not as slow.
    fast = fingerprint_of(window, "SELECT ?")
    assert histogram(window, m.FINGERPRINT_DURATION, fingerprint=fast).count == 1


# -- 5. failing statements ------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "pg"])
def test_a_syntax_error_is_counted_and_propagates_unchanged(monitored: Any) -> None:
    seen: list[BaseException] = []

    def spy(execute: Callable[..., Any], *args: Any) -> Any:
        # Appended after QueryRecorder, so it runs inside it and sees the error first.
        try:
            return execute(*args)
        except DatabaseError as exc:
            seen.append(exc)
            raise

    pg = connections["pg"]
    with (
        pg.execute_wrapper(spy),
        pytest.raises(ProgrammingError) as raised,
        transaction.atomic(using="pg"),
        pg.cursor() as cursor,
    ):
        cursor.execute("SELEC 1")

    assert type(raised.value) is ProgrammingError
    assert raised.value is seen[0]
    assert isinstance(raised.value.__cause__, psycopg.errors.SyntaxError)
    window = monitored.window()
    assert window.by(m.DB_ERRORS, "error", alias="pg") == {"ProgrammingError": 1}
    assert list(window.series(m.DB_CONNECTION_ERRORS)) == []
    # The failing statement was timed and fingerprinted like any other.
    failed = fingerprint_of(window, "SELEC ?")
    assert histogram(window, m.FINGERPRINT_DURATION, fingerprint=failed).count == 1


@pytest.mark.django_db(databases=["default", "pg"])
def test_integrity_errors_are_counted_per_alias(monitored: Any) -> None:
    for alias in ("default", "pg"):
        Category.objects.using(alias).create(name="duplicate")
        with pytest.raises(IntegrityError), transaction.atomic(using=alias):
            Category.objects.using(alias).create(name="duplicate")
        assert Category.objects.using(alias).filter(name="duplicate").count() == 1

    window = monitored.window()
    assert window.by(m.DB_ERRORS, "alias") == {"default": 1, "pg": 1}
    assert window.by(m.DB_ERRORS, "error") == {"IntegrityError": 2}


# -- 6. failures to connect -----------------------------------------------------------------


# No django_db mark: no test database is involved, and Django's test case would refuse a
# connection to an alias it was not given (and set up or flush any alias it was given).
# ``django_db_blocker.unblock()`` lets these tests connect to their extra aliases.


def test_a_refused_connection_is_counted_as_refused(
    monitored: Any, django_db_blocker: Any
) -> None:
    errors_before = internal_error_counts()
    with django_db_blocker.unblock(), postgres_alias("broken", PORT=str(free_port())):
        broken = connections["broken"]
        assert is_instrumented(broken)
        assert isinstance(broken.ensure_connection, ConnectionGuard)

        with pytest.raises(OperationalError) as raised:
            Category.objects.using("broken").exists()
        # Monitoring's own attempts (muted) are not the site's failures.
        with muted(), pytest.raises(OperationalError):
            Category.objects.using("broken").exists()

    assert type(raised.value) is OperationalError
    assert "connection refused" in str(raised.value).lower()
    window = monitored.window()
    assert window.by(m.DB_CONNECTION_ERRORS, "reason", alias="broken") == {"refused": 1}
    assert window.by(m.DB_ERRORS, "error", alias="broken") == {"OperationalError": 1}
    assert list(window.series(m.QUERY_DURATION)) == []  # no statement ever ran
    assert internal_error_counts() == errors_before


def test_a_server_that_never_answers_is_counted_as_timeout(
    monitored: Any, django_db_blocker: Any
) -> None:
    with (
        django_db_blocker.unblock(),
        silent_server() as port,
        postgres_alias("silent", PORT=str(port), OPTIONS={"connect_timeout": 1}),
    ):
        assert is_instrumented(connections["silent"])
        started = time.monotonic()
        with pytest.raises(OperationalError) as raised, connections["silent"].cursor() as cursor:
            cursor.execute("SELECT 1")
        # libpq (and psycopg) never wait less than 2 s, whatever connect_timeout says.
        assert time.monotonic() - started < 10

    assert type(raised.value) is OperationalError
    assert isinstance(raised.value.__cause__, psycopg.errors.ConnectionTimeout)
    window = monitored.window()
    assert window.by(m.DB_CONNECTION_ERRORS, "reason", alias="silent") == {"timeout": 1}
    assert window.by(m.DB_ERRORS, "error", alias="silent") == {"OperationalError": 1}
    assert list(window.series(m.QUERY_DURATION)) == []


# -- 7. connection pools --------------------------------------------------------------------


@pytest.mark.skipif(django.VERSION < (5, 1), reason="Django has connection pools from 5.1")
@pytest.mark.django_db(transaction=True, databases=["default", "pg", "pgpool"])
def test_an_exhausted_pool_is_counted_as_pool_exhausted(monitored: Any) -> None:
    held, release = threading.Event(), threading.Event()

    def hold_the_only_connection() -> None:
        pool_connection = connections["pgpool"]
        try:
            pool_connection.ensure_connection()
            held.set()
            release.wait(30)
        finally:
            pool_connection.close()  # back to the pool

    holder = threading.Thread(target=hold_the_only_connection)
    holder.start()
    try:
        assert held.wait(10), "the holder never got a connection"
        usage = {(alias, state): value for alias, state, value in pool_usage()}
        assert (usage[("pgpool", "in_use")], usage[("pgpool", "max")]) == (1, 1)

        def query_the_pool() -> None:
            with connections["pgpool"].cursor() as cursor:
                cursor.execute("SELECT 1")

        started = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            in_thread(query_the_pool)
        assert 0.4 < time.monotonic() - started < 10  # the pool's 0.5 s timeout
        assert type(raised.value.__cause__).__name__ == "PoolTimeout"
    finally:
        release.set()
        holder.join(30)
        connections["pgpool"].close()
        connections["pgpool"].close_pool()

    window = monitored.window()
    assert window.by(m.DB_CONNECTION_ERRORS, "reason", alias="pgpool") == {"pool_exhausted": 1}
    assert window.by(m.DB_ERRORS, "error", alias="pgpool") == {"OperationalError": 1}
    assert "pgpool" not in {alias for alias, _, _ in pool_usage()}


# -- 8. excluded aliases --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "pg"])
def test_excluded_aliases_get_no_wrapper_on_new_connections(monitored: Any) -> None:
    def select_one_on_each_alias() -> dict[str, bool]:
        instrumented = {}
        for alias in ("default", "pg"):
            instrumented[alias] = is_instrumented(connections[alias])
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        return instrumented

    with override_settings(MONITORING={"EXCLUDE_DATABASES": ["pg"]}):
        assert in_thread(select_one_on_each_alias) == {"default": True, "pg": False}
        window = monitored.window()

    assert query_counts(window) == {("default", "select"): 1}


# -- 9. monitoring's own work ---------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "pg"])
def test_queries_inside_muted_are_not_recorded(monitored: Any) -> None:
    with muted():
        for alias in ("default", "pg"):
            list(Category.objects.using(alias).all())
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        assert Client().get("/db/three/1/").status_code == 200
    Category.objects.using("pg").count()

    window = monitored.window()
    assert query_counts(window) == {("pg", "select"): 1}
    assert list(window.series(m.REQUESTS)) == []


@pytest.mark.django_db(databases=["default"])
def test_requests_to_the_metrics_endpoint_record_no_request_and_no_query(
    monitored: Any,
) -> None:
    client = Client()
    with muted():
        staff = User.objects.create_user("watcher", password="x", is_staff=True)
        client.force_login(staff)

    for url in ("/monitoring/metrics/", "/monitoring/metrics/?format=prometheus"):
        # From an address outside ALLOWED_IPS, so that access needs the staff session:
        # loading it and its user are queries made for monitoring's own sake.
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 200
        # The Prometheus text also reads the alert tables (firing alerts, the outbox).
        assert len(captured) == (4 if "prometheus" in url else 2)

    window = monitored.window()
    assert list(window.series(m.REQUESTS)) == []
    assert list(window.series(m.QUERIES_PER_REQUEST)) == []
    assert list(window.series(m.QUERY_DURATION)) == []
    assert window.data.statements == {}
