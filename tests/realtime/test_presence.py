"""Presence without sockets: counts per key, expiry of entries nobody refreshes (a dead
process), the embedded (in-process) store and the Redis store alike."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from aventide.core.principal import Principal, PrincipalKind
from realtime import presence

ANON = Principal(kind=PrincipalKind.ANONYMOUS, id=str(uuid.uuid4()), order_id=1)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, settings: Any) -> str:
    if request.param == "memory":
        settings.REDIS_URL = ""
        presence.clear_memory()
    elif not settings.REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL=redis://...)")
    settings.REALTIME_PRESENCE_TTL_SECONDS = 60
    return str(request.param)


async def test_presence_counts_each_socket_once_and_forgets_the_closed(store: str) -> None:
    key = presence.presence_key(ANON)
    assert key == f"anon:{ANON.id}"
    await presence.touch(key, "socket-1")
    await presence.touch(key, "socket-1")  # a heartbeat, not a second socket
    await presence.touch(key, "socket-2")
    assert presence.connection_count(key) == 2 and presence.is_online(ANON)
    await presence.leave(key, "socket-1")
    await presence.leave(key, "socket-2")
    assert not presence.is_online(ANON)


async def test_an_entry_nobody_refreshes_stops_counting(store: str, settings: Any) -> None:
    key = f"user:{uuid.uuid4().int % 10**9 + 1}"
    settings.REALTIME_PRESENCE_TTL_SECONDS = 0.2  # the process that wrote it "died"
    await presence.touch(key, "socket-of-a-dead-process")
    settings.REALTIME_PRESENCE_TTL_SECONDS = 60
    await presence.touch(key, "socket-alive")
    assert await _eventually_zero_but_one(key)


async def _eventually_zero_but_one(key: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if presence.connection_count(key) == 1:
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_system_is_never_online() -> None:
    from aventide.core.principal import SYSTEM

    assert presence.presence_key(SYSTEM) is None
    assert presence.is_online(SYSTEM) is False
