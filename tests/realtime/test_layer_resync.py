"""A channel layer that lost its Redis connection tells its sockets (``rt.resync``), and each
socket sends what the log has after the last id it sent: a client that keeps "the highest id
I processed" never skips the events published while the connection was down (found by the
Redis-restart drill, chaos/test_redis_restart.py: 3 to 53 event ids missing per run)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import layers, services
from realtime.contracts import principal_group
from tests.accounts.factories import make_user, principal
from tests.realtime.ws import authed_socket, user_ticket

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("_close_thread_connections"),
]


def _publish(stream: str, audience: list[str], *, live: bool = True, **payload: Any) -> int:
    """One event; ``live=False``: its live copy is lost on the way (the layer was down)."""
    lose = mock.patch.object(services, "send_live", return_value=0)
    with lose if not live else contextlib.nullcontext(), transaction.atomic():
        return services.publish(stream=stream, type="test.tick", payload=payload, audience=audience)


async def _group(user: Any) -> str:
    """The user's own group (every socket of the user is in it)."""
    return principal_group(await sync_to_async(principal)(user))


async def test_resync_sends_the_events_live_delivery_lost_then_live_in_order() -> None:
    user = await sync_to_async(make_user)()
    stream, key = f"user:{user.pk}", f"user:{user.pk}"
    start = await sync_to_async(_publish)(stream, [key], i=0)
    sock = await authed_socket(await sync_to_async(user_ticket)(user))
    await sock.subscribe(stream, since=start)
    assert (await sock.recv())["type"] == "caughtUp"
    seen = await sync_to_async(_publish)(stream, [key], i=1)
    assert (await sock.recv())["id"] == seen
    lost = [await sync_to_async(_publish)(stream, [key], live=False, i=n) for n in (2, 3)]
    await sync_to_async(_publish)(stream, ["user:999999"], live=False, noise=1)
    assert await sock.nothing()
    layer = get_channel_layer()
    await layer.group_send(await _group(user), layers.RESYNC)
    assert [(await sock.recv())["id"] for _ in lost] == lost
    after = await sync_to_async(_publish)(stream, [key], i=4)
    assert (await sock.recv())["id"] == after
    assert await sock.nothing()  # no caughtUp, no duplicate
    await sock.close()


async def test_resync_of_a_subscription_without_since_starts_at_its_subscribe() -> None:
    user = await sync_to_async(make_user)()
    stream, key = f"user:{user.pk}", f"user:{user.pk}"
    await sync_to_async(_publish)(stream, [key], i=0)  # before the subscribe: never sent
    sock = await authed_socket(await sync_to_async(user_ticket)(user))
    assert (await sock.subscribe(stream))["type"] == "subscribed"
    lost = await sync_to_async(_publish)(stream, [key], live=False, i=1)
    await get_channel_layer().group_send(await _group(user), layers.RESYNC)
    assert (await sock.recv())["id"] == lost
    assert await sock.nothing()
    await sock.close()


class _FlakyPubSub:
    """A pub/sub connection that fails once, then delivers one message."""

    subscribed = True

    def __init__(self, message: dict[str, Any]) -> None:
        self.calls = 0
        self.message = message

    async def get_message(self, **kwargs: Any) -> dict[str, Any] | None:
        self.calls += 1
        if self.calls == 1:
            raise RedisConnectionError("Connection closed by server.")
        if self.calls == 2:
            return self.message
        await asyncio.sleep(0.05)
        return None


async def test_the_layer_queues_resync_before_what_the_new_connection_reads() -> None:
    proxy = layers.RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1/0"], prefix="t")
    loop_layer = proxy._get_layer()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    loop_layer.channels["t.specific.a"] = queue
    shard = loop_layer._shards[0]
    live = proxy.serialize({"type": "rt.event", "frame": {"id": 7}})
    shard._pubsub = _FlakyPubSub({"channel": b"t.specific.a", "data": live})
    task = asyncio.ensure_future(shard._do_receiving())
    try:
        first = proxy.deserialize(await asyncio.wait_for(queue.get(), 5))
        second = proxy.deserialize(await asyncio.wait_for(queue.get(), 5))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert first == layers.RESYNC
    assert second == {"type": "rt.event", "frame": {"id": 7}}
    assert queue.empty()


async def test_a_publish_on_a_dead_pooled_connection_is_tried_again() -> None:
    proxy = layers.RedisPubSubChannelLayer(hosts=["redis://127.0.0.1:1/0"], prefix="t")
    shard = proxy._get_layer()._shards[0]
    calls: list[str] = []

    class _Redis:
        async def publish(self, channel: str, message: bytes) -> int:
            calls.append(channel)
            if len(calls) == 1:
                raise RedisConnectionError("Connection closed by server.")
            return 1

        async def aclose(self, **kwargs: Any) -> None:
            return None

    shard._redis = _Redis()
    await shard.publish("t__group__rt.user.1", b"x")
    assert calls == ["t__group__rt.user.1", "t__group__rt.user.1"]
