"""Presence: how many sockets each principal has open, shared by every ASGI process.

Each authenticated socket is one entry under its principal's own audience key (``user:<id>``
or ``anon:<uuid>``), with an expiry: the socket refreshes it every heartbeat
(``REALTIME_WS_HEARTBEAT_SECONDS``) and removes it when it closes. A process that dies
without cleaning up stops refreshing, so its entries drop out within
``REALTIME_PRESENCE_TTL_SECONDS``: no count stays stuck.

- Full mode (``REDIS_URL``): one Redis sorted set per principal, member = the socket's
  channel name (unique per process), score = its expiry (epoch seconds). Counting reads
  ``ZCOUNT key now +inf``: expired members never count, whichever process wrote them. The
  whole key expires with its last member.
- Embedded mode: the same in this process's memory (one process serves everything).

`is_online(principal)` is what the notification bridge asks ("is someone watching, or do we
push/email?"); `connection_count(key)` says how many.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from prometheus_client import Gauge

from aventide.core.metrics import REGISTRY
from aventide.core.principal import Principal
from realtime.contracts import anon_key, user_key

CONNECTIONS = Gauge(
    "aventide_realtime_connections",
    "Authenticated WebSocket connections open on /ws/realtime/ (summed over processes).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


def presence_key(principal: Principal) -> str | None:
    """The key a principal's sockets are counted under (None for the system)."""
    if principal.is_anonymous_identity:
        return anon_key(principal.id)
    if principal.is_registered and principal.user_id is not None:
        return user_key(principal.user_id)
    return None


def ttl_seconds() -> float:
    return float(settings.REALTIME_PRESENCE_TTL_SECONDS)


def _redis_key(key: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or "aventide"
    return f"{prefix}:rt:presence:{key}"


# --- the Redis store ----------------------------------------------------------------------

_sync_client: Any = None
_sync_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


def _redis_sync() -> Any:
    global _sync_client
    with _sync_lock:
        if _sync_client is None:
            import redis

            _sync_client = redis.Redis.from_url(settings.REDIS_URL)
        return _sync_client


def _redis_async() -> Any:
    """One asyncio Redis client per event loop (its connections belong to that loop)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        _async_clients[loop] = client
    return client


# --- the in-process store (embedded mode) --------------------------------------------------

_memory: dict[str, dict[str, float]] = {}
_memory_lock = threading.Lock()


def _memory_put(key: str, member: str, expires: float) -> None:
    with _memory_lock:
        _memory.setdefault(key, {})[member] = expires


def _memory_drop(key: str, member: str) -> None:
    with _memory_lock:
        members = _memory.get(key)
        if members is not None:
            members.pop(member, None)
            if not members:
                del _memory[key]


def _memory_count(key: str, now: float) -> int:
    with _memory_lock:
        members = _memory.get(key, {})
        for member in [m for m, expires in members.items() if expires <= now]:
            del members[member]
        return len(members)


def clear_memory() -> None:
    """Tests: forget this process's in-memory presence."""
    with _memory_lock:
        _memory.clear()


# --- the API ----------------------------------------------------------------------------------


async def touch(key: str, member: str) -> None:
    """Count ``member`` (a socket) under ``key`` until now + TTL (connect and heartbeat)."""
    ttl = ttl_seconds()
    expires = time.time() + ttl
    if not settings.REDIS_URL:
        _memory_put(key, member, expires)
        return
    rkey = _redis_key(key)
    async with _redis_async().pipeline(transaction=True) as pipe:
        pipe.zadd(rkey, {member: expires})
        pipe.zremrangebyscore(rkey, "-inf", time.time())  # members of dead processes
        pipe.expire(rkey, math.ceil(ttl) + 1)
        await pipe.execute()


async def leave(key: str, member: str) -> None:
    """Stop counting ``member`` (the socket closed)."""
    if not settings.REDIS_URL:
        _memory_drop(key, member)
        return
    await _redis_async().zrem(_redis_key(key), member)


def connection_count(key: str) -> int:
    """How many live sockets ``key`` (``user:<id>`` / ``anon:<uuid>``) has, across every
    process. Sync (Celery tasks, services); one Redis round trip."""
    now = time.time()
    if not settings.REDIS_URL:
        return _memory_count(key, now)
    return int(_redis_sync().zcount(_redis_key(key), f"({now}", "+inf"))


def online_keys(keys: Iterable[str]) -> frozenset[str]:
    """Which of ``keys`` (``user:<id>`` / ``anon:<uuid>``) have a live socket on any process.
    Sync; one Redis round trip for all of them (a pipeline)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return frozenset()
    now = time.time()
    if not settings.REDIS_URL:
        return frozenset(k for k in wanted if _memory_count(k, now) > 0)
    pipe = _redis_sync().pipeline(transaction=False)
    for key in wanted:
        pipe.zcount(_redis_key(key), f"({now}", "+inf")
    counts = pipe.execute()
    return frozenset(k for k, n in zip(wanted, counts, strict=True) if int(n) > 0)


def online_probe(keys: Iterable[str]) -> tuple[list[str], list[str], float] | None:
    """For a caller that reads presence inside a Redis script of its own (one round trip with
    its other work, e.g. the chat's send admission): ``(keys, redis_keys, now)`` -- a key is
    online when its sorted set ``redis_keys[i]`` has a member scored above ``now``
    (``ZCOUNT key (now +inf`` > 0), exactly what ``online_keys`` counts. None without Redis
    (the in-process store): call ``online_keys``."""
    if not settings.REDIS_URL:
        return None
    wanted = list(dict.fromkeys(keys))
    return wanted, [_redis_key(k) for k in wanted], time.time()


def is_online(principal: Principal) -> bool:
    """Whether ``principal`` has at least one live socket on any process."""
    key = presence_key(principal)
    return key is not None and connection_count(key) > 0
