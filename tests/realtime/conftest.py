"""Realtime tests: sockets run the consumer's database work in a sync thread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.realtime.ws import close_thread_connections


@pytest.fixture
async def _close_thread_connections() -> AsyncIterator[None]:
    yield
    await close_thread_connections()
