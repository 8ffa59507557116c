"""Real ``python -m aventide.server`` processes on 127.0.0.1 for the tests that need them.

The processes use the pytest PostgreSQL test database of the calling worker (so rows a
``transactional_db`` test commits are visible to them) and, when configured, the same Redis.
Start-up is bounded; a process that does not answer ``/healthz`` in time fails the test with
the tail of its log. Every process is terminated when the ``with`` block ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_database_url() -> str:
    """The URL of the test database this pytest worker uses (PostgreSQL only)."""
    db = connection.settings_dict
    auth = db["USER"] or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}"


def server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "NUM_PROXIES"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("TRUSTED_PROXIES", None)
    env.update(
        AVENTIDE_ENV="test",
        DEBUG="false",
        DATABASE_URL=worker_database_url(),
        CELERY_BROKER_URL="",
        PYTHONUNBUFFERED="1",
        WEB_CONCURRENCY="1",
    )
    env.update(overrides)
    return env


@contextmanager
def live_servers(tmp_path: Path, *envs: dict[str, str]) -> Iterator[list[str]]:
    """Start one server per env (in parallel), yield their base URLs once all are up."""
    with ExitStack() as stack:
        started: list[tuple[subprocess.Popen[bytes], str, Path]] = []
        for index, env in enumerate(envs):
            port = free_port()
            log_path = tmp_path / f"server-{index}.log"
            log = stack.enter_context(log_path.open("wb"))
            command = [sys.executable, "-m", "aventide.server", "--host", "127.0.0.1"]
            proc = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, proc)
            started.append((proc, f"http://127.0.0.1:{port}", log_path))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for proc, base, log_path in started:
            _wait_ready(proc, base, log_path, deadline)
        yield [base for _, base, _ in started]


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log_path: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"server did not start in {START_TIMEOUT_SECONDS}s: {log_path.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def purge_cache_prefix(prefix: str) -> None:
    """Delete the Redis keys the server processes wrote under ``CACHE_KEY_PREFIX=prefix``."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
