"""The launcher (`python -m aventide.server`): N worker processes, graceful and bounded shutdown.

Real processes on a loopback port. Two workers need Redis (validation: the in-memory channel
layer would be per process); the probe views live in tests/ops/server_urls.py.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings

from tests.ops.live_server import live_server

pytestmark = [pytest.mark.slow, pytest.mark.redis]

GRACEFUL_SECONDS = 4


def launcher_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "tests.ops.server_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'server.sqlite3'}",  # the probes use no DB
        "REDIS_URL": settings.REDIS_URL,
        "WEB_CONCURRENCY": "2",
        "WEB_GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_SECONDS),
    }


def test_two_workers_serve_requests(tmp_path: Path) -> None:
    with live_server(tmp_path, launcher_env(tmp_path), workers=2) as server:
        workers = server.worker_pids()
        assert len(workers) == 2, server.log()[-2000:]

        def answer(_: int) -> int:
            response = httpx.get(server.url + "/probe/slow?seconds=0.05", timeout=30)
            assert response.status_code == 200
            return int(response.json()["pid"])

        answered: set[int] = set()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for _ in range(5):  # connections spread over both processes; a few rounds at most
                answered |= set(pool.map(answer, range(48)))
                if answered == workers:
                    break
        assert answered == workers


def test_keep_alive_connections_are_spread_evenly_over_the_workers(tmp_path: Path) -> None:
    """16 long-lived connections (a proxy's keep-alive pool, the bench's clients) land 8/8:
    each worker accepts only while it holds no more than the least loaded one -- the kernel's
    per-worker sockets split them at random (6/10, 4/12)."""
    with live_server(tmp_path, launcher_env(tmp_path), workers=2) as server:
        workers = server.worker_pids()
        assert len(workers) == 2, server.log()[-2000:]
        clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(16)]
        try:
            per_worker = Counter(int(c.get("/probe/pid").json()["pid"]) for c in clients)
            # the same connections again: each keeps its worker (keep-alive)
            again = Counter(int(c.get("/probe/pid").json()["pid"]) for c in clients)
        finally:
            for client in clients:
                client.close()
        assert set(per_worker) == workers
        assert sorted(per_worker.values()) == [8, 8], per_worker
        assert again == per_worker


def _exchange(conn: Any, request: bytes) -> bytes:
    """Send one HTTP/1.1 request on a raw socket and read its whole response (status line)."""
    conn.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return head.split(b"\r\n", 1)[0]


def test_idle_keep_alive_connections_close_after_the_configured_time(tmp_path: Path) -> None:
    """WEB_KEEPALIVE_SECONDS reaches uvicorn: a connection idle for less is reused, one
    idle for longer is closed by the server."""
    import socket

    env = {**launcher_env(tmp_path), "WEB_KEEPALIVE_SECONDS": "1.5"}
    request = b"GET /probe/pid HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with live_server(tmp_path, env, workers=2) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            assert _exchange(conn, request).startswith(b"HTTP/1.1 200")
            time.sleep(0.5)  # idle, but under the keep-alive time: the same connection serves
            assert _exchange(conn, request).startswith(b"HTTP/1.1 200")
            time.sleep(3.0)  # idle past it: the server has closed its end
            assert conn.recv(65536) == b""


def test_each_worker_freezes_its_start_up_heap_before_serving(tmp_path: Path) -> None:
    """Every worker moves what start-up built (Django, the apps, the URLconf and views) out
    of the collector's sight before its first request, and says so in its log."""
    with live_server(tmp_path, launcher_env(tmp_path), workers=2) as server:
        workers = server.worker_pids()
        deadline = time.monotonic() + 20  # a worker may still be starting up
        while True:
            frozen_lines = [line for line in server.log().splitlines() if "WEB_HEAP_FROZEN" in line]
            if len(frozen_lines) >= len(workers) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert {json.loads(line)["pid"] for line in frozen_lines} == workers
        assert all(json.loads(line)["objects"] > 50_000 for line in frozen_lines)

        answer = httpx.get(server.url + "/probe/pid", timeout=30).json()
        assert answer["frozen"] > 50_000


def test_sigterm_finishes_in_flight_requests_and_is_bounded(tmp_path: Path) -> None:
    with live_server(tmp_path, launcher_env(tmp_path), workers=2) as server:
        results: dict[str, Any] = {}

        def call(name: str, seconds: float) -> None:
            try:
                response = httpx.get(f"{server.url}/probe/slow?seconds={seconds}", timeout=90)
                results[name] = response
            except httpx.HTTPError as exc:
                results[name] = exc

        short = threading.Thread(target=call, args=("short", 3))  # ends inside the grace
        endless = threading.Thread(target=call, args=("endless", 120))  # never would
        short.start()
        endless.start()
        time.sleep(1.0)  # both are being served

        sigterm_at = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        deadline = time.monotonic() + 3
        while server.accepts_connections() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.accepts_connections(), "stops accepting right away"
        assert short.is_alive(), "...while the in-flight request is still running"

        short.join(timeout=30)
        response = results["short"]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200 and response.json()["slept"] == 3

        endless.join(timeout=60)
        status = server.process.wait(timeout=60)
        took = time.monotonic() - sigterm_at
        assert status == 0, server.log()[-2000:]
        # graceful timeout, then at most the hard margin per worker: far below 120 s
        assert took < GRACEFUL_SECONDS + 15, took
        cut = results["endless"]
        assert isinstance(cut, httpx.Response), cut
        assert cut.status_code == 503
        assert cut.json()["code"] == "SERVICE_UNAVAILABLE"
        assert cut.headers["retry-after"] == "1"
