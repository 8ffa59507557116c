"""Fixtures of the audit tests."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection

WORM = importlib.import_module("audit.migrations.0002_worm_triggers")


@pytest.fixture(autouse=True)
def _seal_without_settle_margin(settings: Any) -> None:
    """Tests seal what they just wrote: no clock-skew margin (in-flight tests set their own)."""
    settings.AUDIT_SEAL_SETTLE_SECONDS = 0


@contextmanager
def worm_disabled(table: str) -> Iterator[None]:
    """What a DB owner (or attacker with owner rights) can do: switch the WORM trigger off for
    a moment. PostgreSQL: ALTER TABLE ... DISABLE TRIGGER; SQLite: drop and re-create it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_worm_row")
        else:
            for sql in WORM.sqlite_backward(table):
                cursor.execute(sql)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_worm_row")
            else:
                for sql in WORM.sqlite_forward(table):
                    cursor.execute(sql)


@pytest.fixture
def tamper() -> Callable[[str, str, list[Any]], None]:
    """Run one raw SQL statement on an audit table with its WORM trigger switched off."""

    def run(table: str, sql: str, params: list[Any]) -> None:
        with worm_disabled(table), connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run
