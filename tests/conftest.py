"""Shared test fixtures and the real-services policy.

Tests marked ``postgres`` or ``redis`` need the real servers. Without them they skip, unless
``REQUIRE_SERVICES=1`` (CI), where a missing service fails the test instead.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


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


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Each test starts with an empty cache (its own Redis db per xdist worker)."""
    from django.core.cache import cache

    cache.clear()


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
