"""Shared test fixtures and the real-services policy.

Tests marked ``postgres`` or ``redis`` need the real servers. Without them they skip, unless
``REQUIRE_SERVICES=1`` (CI), where a missing service fails the test instead.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    importlib.import_module("tests.audit_actions")  # the test-only audit actions


def _missing_service(marker: str) -> str | None:
    if marker == "postgres" and not settings.IS_POSTGRES:
        return "needs PostgreSQL (set DATABASE_URL=postgres://...)"
    if marker == "redis" and not settings.REDIS_URL:
        return "needs Redis (set REDIS_URL=redis://...)"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing_service(marker)
        if reason is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but the test {reason}", pytrace=False)
        pytest.skip(reason)


#: append-only table -> the migration module holding its SQLite trigger SQL
_WORM_TABLES = {
    "audit_event": "audit.migrations.0002_worm_triggers",
    "audit_seal": "audit.migrations.0002_worm_triggers",
    "ledger_transaction": "aventide.ledger.migrations.0002_append_only_triggers",
    "ledger_entry": "aventide.ledger.migrations.0002_append_only_triggers",
    "ledger_ordersnapshot": "aventide.ledger.migrations.0002_append_only_triggers",
    "messaging_message": "messaging.migrations.0002_message_worm_triggers",
}


def _flush_with_audit_worm(original: Callable[[Any, Sequence[str]], None]) -> Any:
    """Wrap ``execute_sql_flush`` so test flushes can empty the append-only tables.

    TEST-ONLY. Transactional tests (``transactional_db``) end with ``manage.py flush``:
    TRUNCATE on PostgreSQL, DELETE on SQLite, which the audit WORM triggers reject. Inside the
    flush's own transaction the triggers are switched off and back on around the flush
    (PostgreSQL: ``ALTER TABLE ... DISABLE/ENABLE TRIGGER USER``, allowed to the table owner;
    SQLite: DROP and re-CREATE, with the migration's own SQL). Other sessions never see the
    tables without triggers, and production code has no such path.
    """

    def execute_sql_flush(self: Any, sql_list: Sequence[str]) -> None:
        flushed = [t for t in _WORM_TABLES if any(t in sql for sql in sql_list)]
        if not flushed:
            return original(self, sql_list)
        vendor = self.connection.vendor

        def sql_of(table: str, direction: str) -> list[str]:
            module = importlib.import_module(_WORM_TABLES[table])
            statements: list[str] = getattr(module, f"sqlite_{direction}")(table)
            return statements

        if vendor == "postgresql":
            before = [f"ALTER TABLE {t} DISABLE TRIGGER USER;" for t in flushed]
            after = [f"ALTER TABLE {t} ENABLE TRIGGER USER;" for t in flushed]
        elif vendor == "sqlite":
            before = [s for t in flushed for s in sql_of(t, "backward")]
            after = [s for t in flushed for s in sql_of(t, "forward")]
        else:
            before, after = [], []
        return original(self, [*before, *sql_list, *after])

    execute_sql_flush.__wrapped__ = original  # type: ignore[attr-defined]
    return execute_sql_flush


@pytest.fixture(autouse=True, scope="session")
def _audit_worm_aware_flush() -> Iterator[None]:
    from django.db.backends.base.operations import BaseDatabaseOperations

    original = BaseDatabaseOperations.execute_sql_flush
    BaseDatabaseOperations.execute_sql_flush = _flush_with_audit_worm(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseDatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Each test starts with an empty cache."""
    clear_cache()


def clear_cache() -> None:
    """Empty this test process's cache. On Redis only this process's keys go (its KEY_PREFIX
    is unique per test process), never FLUSHDB (what ``cache.clear()`` does there): other
    xdist workers and other test runs share the database -- their broker queues too."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]  # the backend itself (django.core.cache.cache is a proxy)
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]  # stubs lack it
        keys = list(client.scan_iter(match=cache.make_key("*"), count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_principal_cache() -> None:
    """Each test starts with no cached principals (the rows behind them roll back)."""
    from aventide.accounts.principals import clear_caches

    clear_caches()


@pytest.fixture
def api_client() -> APIClient:
    """A DRF client that returns 500 responses instead of re-raising the exception."""
    return APIClient(raise_request_exception=False)


class JsonLogs:
    """Every JSON log line written while the fixture is active, rendered like production."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == name]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    formatter_cfg = settings.LOGGING["formatters"]["json"]
    factory: Callable[..., logging.Formatter] = formatter_cfg["()"]
    formatter = factory(**{k: v for k, v in formatter_cfg.items() if k != "()"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    names = ["", *settings.LOGGING["loggers"].keys()]
    loggers = [logging.getLogger(name) for name in names]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield JsonLogs(stream)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    """Tests create many users: MD5 here; `real_password_hasher` asserts Argon2."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]


@pytest.fixture
def real_password_hasher(settings: Any) -> None:
    """The production hasher list (as aventide/settings.py defines it), for the tests that
    assert it."""
    import aventide.settings as project_settings

    settings.PASSWORD_HASHERS = list(project_settings.PASSWORD_HASHERS)


@pytest.fixture
def countries(db: None) -> list[str]:
    """The served countries (AR, MX, BR) with their currency, fee and dispute window."""
    from aventide.accounts.demo import COUNTRIES
    from tests.accounts.factories import ensure_countries

    ensure_countries()
    return [c[0] for c in COUNTRIES]
