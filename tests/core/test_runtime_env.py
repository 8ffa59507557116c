"""Runtime sizing variables: pool, threads, workers, graceful shutdown (validated, defaulted).

The settings side runs in a fresh interpreter per case, so each sees exactly its environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aventide.core.env import (
    DEFAULT_ASGI_THREADS,
    check_env,
    db_pool_sizes,
    default_web_concurrency,
    web_concurrency,
    web_keepalive_seconds,
)

ROOT = Path(__file__).resolve().parents[2]
PG = "postgres://app@db.internal:5432/aventide"


def problems(env: dict[str, str]) -> dict[str, str]:
    return {p.variable: p.hint for p in check_env(env).problems}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_MIN_SIZE", "-1"),
        ("DB_POOL_MAX_SIZE", "ten"),
        ("DB_POOL_TIMEOUT_SECONDS", "0"),
        ("DB_POOL_TIMEOUT_SECONDS", "soon"),
        ("ASGI_THREADS", "0"),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "2x"),
        ("WEB_GRACEFUL_TIMEOUT_SECONDS", "-3"),
        ("WEB_KEEPALIVE_SECONDS", "0"),
        ("WEB_KEEPALIVE_SECONDS", "forever"),
    ],
)
def test_runtime_variable_with_a_bad_value_is_named(name: str, value: str) -> None:
    assert name in problems({name: value})


def test_pool_min_above_max_is_refused() -> None:
    found = problems({"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "4"})
    assert found == {"DB_POOL_MIN_SIZE": "must not exceed DB_POOL_MAX_SIZE"}


def test_persistent_connections_are_refused_while_the_pool_is_on() -> None:
    # Django refuses CONN_MAX_AGE with a pool at the first query; say it at start-up instead.
    assert "DB_CONN_MAX_AGE" in problems({"DATABASE_URL": PG, "DB_CONN_MAX_AGE": "60"})
    assert problems({"DATABASE_URL": PG, "DB_CONN_MAX_AGE": "60", "DB_POOL_MAX_SIZE": "0"}) == {}
    assert problems({"DATABASE_URL": "sqlite:///x.db", "DB_CONN_MAX_AGE": "60"}) == {}


def test_several_web_processes_need_redis() -> None:
    assert "WEB_CONCURRENCY" in problems({"WEB_CONCURRENCY": "2"})
    assert problems({"WEB_CONCURRENCY": "2", "REDIS_URL": "redis://r:6379/0"}) == {}
    assert problems({"WEB_CONCURRENCY": "1"}) == {}


def test_pool_defaults_follow_the_thread_count() -> None:
    # one connection per request thread, one for the process's WebSocket consumers
    assert DEFAULT_ASGI_THREADS == 4
    assert db_pool_sizes({}) == (2, DEFAULT_ASGI_THREADS + 1)
    assert db_pool_sizes({"ASGI_THREADS": "12"}) == (2, 13)
    assert db_pool_sizes({"ASGI_THREADS": "12", "DB_POOL_MAX_SIZE": "4"}) == (2, 4)
    assert db_pool_sizes({"DB_POOL_MAX_SIZE": "1"}) == (1, 1)
    assert db_pool_sizes({"DB_POOL_MAX_SIZE": "0"}) == (0, 0)


def test_web_concurrency_defaults() -> None:
    assert web_concurrency({}) == 1, "embedded mode: one process (in-memory channel layer)"
    assert web_concurrency({"WEB_CONCURRENCY": "3"}) == 3
    assert web_concurrency({"REDIS_URL": "redis://r:6379/0"}) == default_web_concurrency()
    assert default_web_concurrency(2) == 2
    assert default_web_concurrency(0) == 1
    assert default_web_concurrency(64) == 8


def settings_in_subprocess(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "DB_"))}
    base.update(AVENTIDE_ENV="test", **env)
    code = (
        "import json, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
        "'aventide.settings'); django.setup(); from django.conf import settings as s;"
        "d = s.DATABASES['default'];"
        "print(json.dumps({'engine': d['ENGINE'], 'max_age': d.get('CONN_MAX_AGE'),"
        "'pool': d.get('OPTIONS', {}).get('pool'), 'threads': s.ASGI_THREADS}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_postgres_settings_pool_per_process() -> None:
    got = settings_in_subprocess(
        DATABASE_URL=PG, DB_POOL_MAX_SIZE="6", DB_POOL_MIN_SIZE="1", DB_POOL_TIMEOUT_SECONDS="2.5"
    )
    assert got == {
        "engine": "aventide.core.postgres",
        "max_age": 0,
        "pool": {"min_size": 1, "max_size": 6, "timeout": 2.5},
        "threads": DEFAULT_ASGI_THREADS,
    }


def test_postgres_without_pool_keeps_conn_max_age() -> None:
    got = settings_in_subprocess(DATABASE_URL=PG, DB_POOL_MAX_SIZE="0", DB_CONN_MAX_AGE="30")
    assert got["pool"] is None and got["max_age"] == 30


def test_sqlite_embedded_mode_has_no_pool(tmp_path) -> None:
    got = settings_in_subprocess(DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}")
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["pool"] is None


def test_keep_alive_outlasts_the_proxies_idle_timeouts() -> None:
    """An idle connection is closed by the client side first (nginx keeps upstream
    connections 75 s by default, an AWS ALB 60 s): a request sent just as the server closes an
    idle connection is reset and lost (the send storm drill lost 2-4 of 1,000 REST sends
    that way with uvicorn's 5 s default)."""
    assert web_keepalive_seconds({}) > 75
    assert web_keepalive_seconds({"WEB_KEEPALIVE_SECONDS": "12.5"}) == 12.5
