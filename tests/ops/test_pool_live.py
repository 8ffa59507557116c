"""Under concurrent requests the real server never holds more connections than its pool allows.

The server (`python -m aventide.server`, one process) runs against this test database with a
small pool and more request threads than pool connections; 32 concurrent clients hit
/readyz and an authenticated endpoint while pg_stat_activity is sampled. The server's
connections carry their own application_name, so the count is exactly theirs.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import connection

from tests.accounts.factories import login_headers, make_user
from tests.ops.live_server import live_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

POOL_MAX = 3
THREADS = 8  # more threads than connections: requests queue for the pool
CLIENTS = 32
PATHS = ("/readyz", "/api/auth/me", "/api/auth/me")


def dsn(name: str) -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


class Sampler(threading.Thread):
    """Counts the server's backends on the test database every few milliseconds."""

    def __init__(self, database: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self.database, self.application_name = database, application_name
        self.stop = threading.Event()
        self.samples: list[int] = []
        self.backends: set[int] = set()

    def run(self) -> None:
        with psycopg.connect(dsn(self.database), autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                    (self.database, self.application_name),
                ).fetchall()
                self.samples.append(len(rows))
                self.backends.update(row[0] for row in rows)
                self.stop.wait(0.005)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_exceed_the_pool(tmp_path: Path) -> None:
    token = login_headers(make_user(email="pool@example.test"))["HTTP_AUTHORIZATION"]
    database = connection.settings_dict["NAME"]
    application_name = f"aventide-pool-test-{os.getpid()}"
    env = {
        "DATABASE_URL": dsn(database),
        "DB_POOL_MAX_SIZE": str(POOL_MAX),
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_TIMEOUT_SECONDS": "30",
        "ASGI_THREADS": str(THREADS),
        "WEB_CONCURRENCY": "1",
        "PGAPPNAME": application_name,  # libpq tags every connection of the server
    }
    with live_server(tmp_path, env) as server:
        sampler = Sampler(database, application_name)
        sampler.start()

        def client(_: int) -> list[int]:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                return [
                    http.get(path, headers={"Authorization": token}).status_code for path in PATHS
                ]

        try:
            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                statuses = [s for batch in pool.map(client, range(CLIENTS)) for s in batch]
            pool_report = httpx.get(server.url + "/readyz", timeout=30).json()
        finally:
            sampler.stop.set()
            sampler.join(timeout=10)

    assert statuses == [200] * (CLIENTS * len(PATHS))
    assert sampler.samples, "pg_stat_activity was sampled"
    assert 1 <= max(sampler.samples) <= POOL_MAX, max(sampler.samples)
    # the same few connections served every request: reused, never one per request
    assert 1 <= len(sampler.backends) <= POOL_MAX, sampler.backends
    stats = pool_report["checks"]["database"]["pool"]
    assert stats["max"] == POOL_MAX and stats["size"] <= POOL_MAX
