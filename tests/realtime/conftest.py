"""Realtime test fixtures: the orders world (a seller, a listing, a buyer, staff of AR); the
sockets' database work runs in a sync thread whose connection is closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.orders.conftest import OrderWorld
from tests.realtime.ws import close_thread_connections


@pytest.fixture
def world(countries: list[str]) -> OrderWorld:
    return OrderWorld("AR")


@pytest.fixture
async def _close_thread_connections() -> AsyncIterator[None]:
    yield
    await close_thread_connections()
