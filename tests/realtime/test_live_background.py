"""Live fan-out from the background sender (``AFTER_COMMIT_SENDER=background``, the web
workers' mode; docs/decisions/0018): after the commit, through the real Redis pub/sub channel
layer, in commit order; nothing for a rollback; the metric counted after the commit only."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from aventide.core import aftercommit
from aventide.core.metrics import count_of
from realtime import services

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_layer(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.REDIS_URL], "prefix": f"t{uuid.uuid4().hex[:8]}"},
        }
    }
    settings.AFTER_COMMIT_SENDER = "background"
    return get_channel_layer()


class Subscriber:
    """A socket's view: one channel in the stream's group, on a loop of its own."""

    def __init__(self, layer: Any, group: str, expect: int) -> None:
        self.layer, self.group, self.expect = layer, group, expect
        self.received: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def _run(self) -> None:
        channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, channel)
        await asyncio.sleep(0.2)  # the SUBSCRIBE reached Redis
        self.ready.set()
        try:
            while len(self.received) < self.expect:
                self.received.append(await asyncio.wait_for(self.layer.receive(channel), 10))
        finally:
            await self.layer.group_discard(self.group, channel)
            await self.layer.flush()


def _publish(order_id: int, status: str) -> int:
    return services.publish(
        stream=f"order:{order_id}",
        type="order.status_changed",
        payload={"orderId": order_id, "status": status},
        audience=["user:1", "user:2", "staff:AR"],
        country_code="AR",
    )


def test_frames_go_out_after_commit_in_order_through_redis(redis_layer: Any) -> None:
    sub = Subscriber(redis_layer, "rt.order.901", expect=5)
    before = count_of(
        services.METRIC_PUBLISHED, eventType="order.status_changed", streamKind="order"
    )
    ids = []
    for n in range(5):
        with transaction.atomic():
            ids.append(_publish(901, f"s{n}"))
    with transaction.atomic():  # rolled back: neither sent nor counted
        _publish(901, "never")
        transaction.set_rollback(True)
    assert aftercommit.process_sender().flush(timeout=10)
    sub.thread.join(15)
    assert [m["frame"]["id"] for m in sub.received] == ids
    assert [m["frame"]["data"]["status"] for m in sub.received] == [f"s{n}" for n in range(5)]
    assert all(m["type"] == "rt.event" for m in sub.received)
    after = count_of(
        services.METRIC_PUBLISHED, eventType="order.status_changed", streamKind="order"
    )
    assert after == before + 5


def test_the_request_thread_only_queues(redis_layer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit returns before the channel layer is touched: the send happens on the
    sender's thread."""
    threads: list[str] = []
    real = services._send_all

    async def spy(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> int:
        threads.append(threading.current_thread().name)
        return await real(layer, messages)

    monkeypatch.setattr(services, "_send_all", spy)
    with transaction.atomic():
        _publish(902, "paid")
    assert aftercommit.process_sender().flush(timeout=10)
    assert threads == ["after-commit-sender"]
