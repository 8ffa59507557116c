"""Realtime test fixtures: the orders world (a seller, a listing, a buyer, staff of AR)."""

from __future__ import annotations

import pytest

from tests.orders.conftest import OrderWorld


@pytest.fixture
def world(countries: list[str]) -> OrderWorld:
    return OrderWorld("AR")
