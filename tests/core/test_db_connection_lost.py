"""A database connection lost mid-request: a 503 the client can act on, and a pool that
recovers at once (issue 15, drill 4: chaos/test_db_cuts.py found both).

Real PostgreSQL: the connection is ended the way an operator or a failover ends it
(``pg_terminate_backend``), not mocked.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection
from django.http import HttpResponse
from django.test import RequestFactory

from aventide.core.db_errors import connection_lost
from aventide.core.handlers import handler500
from aventide.core.middleware import RequestContextMiddleware
from tests.accounts.factories import login_headers, make_user

pytestmark = pytest.mark.postgres


def _wrapped(cause: BaseException, cls: type[Exception] = OperationalError) -> Exception:
    """Django's wrapping of a driver error (``DatabaseErrorWrapper``: the cause is chained)."""
    try:
        raise cls(str(cause)) from cause
    except cls as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "cls", "lost"),
    [
        (psycopg.errors.AdminShutdown("terminating connection"), OperationalError, True),
        (psycopg.OperationalError("server closed the connection"), OperationalError, True),
        (psycopg.OperationalError("the connection is closed"), OperationalError, True),
        (psycopg.errors.ConnectionFailure("connection failure"), OperationalError, True),
        (psycopg.errors.SerializationFailure("could not serialize"), OperationalError, False),
        (psycopg.errors.QueryCanceled("statement timeout"), OperationalError, False),
        (sqlite3.OperationalError("database is locked"), OperationalError, False),
        (psycopg.errors.UniqueViolation("duplicate key"), IntegrityError, False),
    ],
    ids=["admin-shutdown", "closed-unexpectedly", "closed", "class-08", "serialization",
         "statement-timeout", "sqlite-locked", "integrity"],
)  # fmt: skip
def test_connection_lost_is_only_a_connection_that_went_away(
    cause: BaseException, cls: type[Exception], lost: bool
) -> None:
    assert connection_lost(_wrapped(cause, cls)) is lost


def _terminate_own_backend(*args: Any, **kwargs: Any) -> Any:
    """What ``pg_terminate_backend`` from an operator (or a failover) does to the request's
    session while it runs: the statement fails with 57P01 and the connection is gone."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        cursor.execute("SELECT 1")
    raise AssertionError("the backend survived its termination")


def _conninfo() -> dict[str, Any]:
    """A connection of the test's own to the test database, outside the pool."""
    params = connection.get_connection_params()
    return {k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}


def _terminate(pids: list[int]) -> None:
    """``pg_terminate_backend`` of ``pids`` from a session of the test's own, returning once
    the server has ended them all."""
    with psycopg.connect(**_conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        deadline = time.monotonic() + 5
        while (
            time.monotonic() < deadline
            and admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s) LIMIT 1", (pids,)
            ).fetchone()
        ):
            time.sleep(0.01)


def _assert_503(response: Any, request_id: str) -> None:
    assert response.status_code == 503, response.content
    body = json.loads(response.content)
    assert body["error"] == "service_unavailable"
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["requestId"] == request_id == response["X-Request-ID"]
    assert response["Retry-After"] == "1"
    assert "traceback" not in response.content.decode().lower()


@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_mid_request_answers_503_in_the_error_contract(
    api_client, monkeypatch, json_logs
) -> None:
    headers = login_headers(make_user())
    assert api_client.get("/api/orders", **headers).status_code == 200
    from aventide.orders import selectors as order_selectors

    with monkeypatch.context() as patch:
        patch.setattr(order_selectors, "orders_for", _terminate_own_backend)
        response = api_client.get("/api/orders", **headers, HTTP_X_REQUEST_ID="db-cut-1")

    _assert_503(response, "db-cut-1")
    lost = json_logs.events("METRIC_DB_CONNECTION_LOST")
    assert lost and lost[0]["sqlstate"] == "57P01"
    assert not json_logs.events("UNHANDLED_EXCEPTION"), "not logged as a bug with a traceback"
    # the request cycle gives the broken connection back (the test client does not), the pool
    # drops it, and the next request gets a live one
    connection.close()
    assert api_client.get("/api/orders", **headers).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_plain_django_view_or_a_middleware_answers_503_too(json_logs) -> None:
    """Outside DRF: the request middleware's ``process_exception`` (a plain view) and
    ``handler500`` (an exception Django caught elsewhere) answer the same 503."""
    request = RequestFactory().get("/api/anything", HTTP_X_REQUEST_ID="db-cut-2")
    try:
        _terminate_own_backend()
    except OperationalError as exc:
        lost = exc
    middleware = RequestContextMiddleware(lambda request: HttpResponse())
    token, _started = middleware._begin(request)
    try:
        _assert_503(middleware.process_exception(request, lost), "db-cut-2")
        try:
            raise lost
        except OperationalError:
            _assert_503(handler500(request), "db-cut-2")
    finally:
        from aventide.core import context

        context.reset_request_id(token)
        connection.close()  # the broken connection goes back to the pool, which drops it


@pytest.mark.django_db(transaction=True)
def test_the_pool_drops_every_dead_idle_connection_at_the_first_failed_check() -> None:
    """After the server ended all the pool's idle sessions, the next borrower gets a live
    connection at once: without the purge psycopg-pool handed it the dead ones one by one,
    sleeping 1 s, 2 s, 4 s between failed checks (a 503 at the pool timeout)."""
    connection.ensure_connection()
    pool = connection.pool  # type: ignore[attr-defined]  # django-stubs lacks the pool
    connection.close()  # this thread's connection is one of the idle ones
    lent = [pool.getconn(timeout=10) for _ in range(4)]
    pids = [conn.info.backend_pid for conn in lent]
    for conn in lent:
        pool.putconn(conn)
    _terminate(pids)

    started = time.monotonic()
    conn = pool.getconn(timeout=10)
    waited = time.monotonic() - started
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid not in pids
    finally:
        pool.putconn(conn)
    assert waited < 0.9, f"waited {waited:.2f}s for a live connection (backoff over dead ones)"


def _counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The connections the pool ran psycopg's round-trip health check on."""
    from psycopg_pool import ConnectionPool

    checked: list[Any] = []
    real = ConnectionPool.check_connection

    def counting(conn: Any) -> None:
        checked.append(conn)
        real(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    return checked


@pytest.mark.django_db(transaction=True)
def test_a_connection_handed_back_a_moment_ago_is_lent_without_a_round_trip(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """PgBouncer's server_check_delay: the hot path's borrow skips the empty query; a
    connection idle longer than DB_POOL_CHECK_AFTER_SECONDS (or with the window at 0) still
    gets it."""
    settings.DB_POOL_CHECK_AFTER_SECONDS = 30.0
    connection.ensure_connection()
    pool = connection.pool  # type: ignore[attr-defined]  # django-stubs lacks the pool
    connection.close()
    checked = _counting_checks(monkeypatch)

    lent = [pool.getconn(timeout=10) for _ in range(pool.max_size)]  # every one, once
    for conn in lent:
        pool.putconn(conn)
    checked.clear()
    again = pool.getconn(timeout=10)
    try:
        assert again.execute("SELECT 1").fetchone() == (1,)
    finally:
        pool.putconn(again)
    assert checked == []

    settings.DB_POOL_CHECK_AFTER_SECONDS = 0.0
    conn = pool.getconn(timeout=10)
    pool.putconn(conn)
    assert len(checked) == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_ended_by_the_server_right_after_it_came_back_is_not_lent(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The server's last words make the quiet socket readable: the connection gets the full
    check, fails it, and the borrower gets a live one -- no error, no waiting."""
    settings.DB_POOL_CHECK_AFTER_SECONDS = 30.0
    connection.ensure_connection()
    pool = connection.pool  # type: ignore[attr-defined]  # django-stubs lacks the pool
    connection.close()
    lent = [pool.getconn(timeout=10) for _ in range(pool.max_size)]  # every one
    pids = [conn.info.backend_pid for conn in lent]
    for conn in lent:
        pool.putconn(conn)
    checked = _counting_checks(monkeypatch)
    _terminate(pids)

    conn = pool.getconn(timeout=10)
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid not in pids
    finally:
        pool.putconn(conn)
    assert checked, "the dead connection was lent without its check"
