"""The per-process PostgreSQL pool: configured from the settings, bounded, exhaustion is a 503.

Real pool, real PostgreSQL: connections are taken from the very pool the requests use, so
"exhausted" means every connection of this process is lent out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.accounts.factories import login_headers, make_user

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool() -> Any:
    connection.ensure_connection()  # opens the pool if nothing has yet
    pool = getattr(connection, "pool", None)
    assert pool is not None, "PostgreSQL must run with the connection pool"
    return pool


class Lender:
    """Borrows connections straight from the pool (as busy requests would) and returns them."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.lent: list[Any] = []

    def borrow_all(self) -> None:
        """Borrow every connection not already lent (the pool grows to max_size for us)."""
        stats = self.pool.get_stats()
        in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
        for _ in range(self.pool.max_size - in_use):
            self.lent.append(self.pool.getconn(timeout=10))

    def give_back(self) -> None:
        while self.lent:
            self.pool.putconn(self.lent.pop())


@pytest.fixture
def lender(pool: Any) -> Iterator[Lender]:
    lending = Lender(pool)
    try:
        yield lending
    finally:
        lending.give_back()


@pytest.mark.django_db
def test_pool_is_sized_by_the_settings_and_connects_to_the_test_database(pool) -> None:
    assert connection.settings_dict["CONN_MAX_AGE"] == 0, "the pool replaces persistent conns"
    assert connection.settings_dict["ENGINE"] == "aventide.core.postgres"
    assert pool.min_size == settings.DB_POOL_MIN_SIZE
    assert pool.max_size == settings.DB_POOL_MAX_SIZE >= 1
    assert pool.timeout == settings.DB_POOL_TIMEOUT_SECONDS
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        assert cursor.fetchone()[0] == connection.settings_dict["NAME"]
    conn = pool.getconn(timeout=10)
    try:
        assert conn.info.dbname == connection.settings_dict["NAME"]
    finally:
        pool.putconn(conn)


@pytest.mark.django_db(transaction=True)
def test_exhausted_pool_answers_503_in_the_error_contract(
    api_client, pool, lender, monkeypatch, json_logs
) -> None:
    headers = login_headers(make_user())
    # /api/orders reads the database on every request (/me does not: a warm principal cache)
    assert api_client.get("/api/orders", **headers).status_code == 200
    connection.close()  # this thread's connection goes back to the pool, like a request's
    monkeypatch.setattr(pool, "timeout", 0.5)  # the wait before giving up (default 5 s)
    lender.borrow_all()

    started = time.monotonic()
    response = api_client.get("/api/orders", **headers, HTTP_X_REQUEST_ID="pool-full-1")
    waited = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "service_unavailable"
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["requestId"] == "pool-full-1" == response["X-Request-ID"]
    assert response["Retry-After"] == "1"
    assert waited >= 0.5, "the request waited for a connection before giving up"
    exhausted = json_logs.events("METRIC_DB_POOL_EXHAUSTED")
    assert exhausted and exhausted[0]["alias"] == "default"
    assert exhausted[0]["poolMax"] == pool.max_size

    lender.give_back()
    assert api_client.get("/api/orders", **headers).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_the_pool(client, pool) -> None:
    body = client.get("/readyz").json()
    database = body["checks"]["database"]
    assert database["status"] == "ok"
    stats = database["pool"]
    assert set(stats) == {"size", "available", "inUse", "waiting", "min", "max"}
    assert stats["max"] == settings.DB_POOL_MAX_SIZE
    assert stats["min"] == settings.DB_POOL_MIN_SIZE
    assert 1 <= stats["size"] <= stats["max"]
    assert stats["inUse"] >= 1  # the readiness request itself holds one
    assert stats["waiting"] == 0


@pytest.mark.django_db(transaction=True)
def test_readyz_is_degraded_while_requests_wait_for_a_connection(client, pool, lender) -> None:
    connection.ensure_connection()  # this thread (the readiness request) keeps its connection
    lender.borrow_all()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.getconn(timeout=30)))
    waiter.start()
    try:
        deadline = time.monotonic() + 10
        while pool.get_stats().get("requests_waiting", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)

        response = client.get("/readyz")

        assert response.status_code == 200, "saturated but serving: still ready"
        body = response.json()
        assert body["status"] == "degraded"
        database = body["checks"]["database"]
        assert database["status"] == "degraded"
        assert database["pool"]["waiting"] == 1
        assert database["pool"]["available"] == 0
        assert database["detail"] == "1 requests waiting for a database connection"
    finally:
        lender.give_back()
        waiter.join(timeout=30)
        for conn in got:
            pool.putconn(conn)


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_opens_its_own_pool_and_leaves_the_parents_alone(pool) -> None:
    """Celery's prefork children fork after the parent may have used the pool."""
    import os

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        parent_backend = cursor.fetchone()[0]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover -- runs in the child, reports through the pipe
        code = 1
        try:
            connection.connection = None  # what Celery's fixup does: drop, never close
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                child_backend = cursor.fetchone()[0]
            same_pool = getattr(connection, "pool", None) is pool
            os.write(write_end, f"{child_backend} {int(same_pool)}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(child, 0)
    report = os.read(read_end, 100).decode().split()
    os.close(read_end)

    assert os.waitstatus_to_exitcode(status) == 0
    child_backend, same_pool = int(report[0]), report[1] == "1"
    assert child_backend != parent_backend, "the child connected on its own"
    assert not same_pool, "the child built its own pool"
    with connection.cursor() as cursor:  # the parent's session survived the child
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] == parent_backend
