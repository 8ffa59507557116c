"""The channel layer: channels-redis's pub/sub layer that tells its sockets when it lost events.

Redis pub/sub is fire and forget: while a process's subscriber connection is down (Redis
restarted, a network blip, Redis dropping a slow subscriber) every message published to its
channels is gone, and channels-redis reconnects and resubscribes without telling anyone. The
sockets stay open, the next live event reaches them, and a client that keeps "the highest id
I processed" as its cursor would skip the gap for good: its reconnect-with-``since`` starts
after the events it never got (found by the Redis-restart drill, chaos/test_redis_restart.py).

``RedisPubSubChannelLayer`` here is the same layer with one addition: when its receiver gets
a connection back after losing it (the first successful read on the new connection: redis-py
reconnected and resubscribed every channel and group), it puts ``{"type": "rt.resync"}`` in
the queue of every channel of this process *before* anything read on the new connection. The
consumer (``RealtimeConsumer.rt_resync``) then sends each subscription what the event log has
after the last id it sent -- what was published while the connection was down -- and live
events that follow are de-duplicated by id as at a resume. Nothing else changes: it is still
transport only, the log is the guarantee (docs/decisions/0015-channel-layer.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer as _BaseLayer
from channels_redis.pubsub import RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close, decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError

from aventide.core import metrics

logger = logging.getLogger("aventide.realtime.layer")

#: the message every local channel gets when the layer's connection came back
RESYNC = {"type": "rt.resync"}


class _Shard(RedisSingleShardConnection):
    """One Redis connection of the layer, whose receiver reports a recovered connection."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self.lost = False

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    if self.lost:
                        self.lost = False
                        self._resync()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except BaseException:  # noqa: BLE001 - the connection is retried below
                if not self.lost:
                    logger.warning("realtime.layer_connection_lost", exc_info=True)
                    metrics.emit("METRIC_REALTIME_LAYER_LOST")
                self.lost = True
                await asyncio.sleep(0.5)

    async def publish(self, channel: str, message: bytes) -> None:
        """PUBLISH, tried a second time on a connection error: right after a Redis restart
        the first use of each pooled connection fails on its dead socket although Redis is
        back, and a live event lost *after* the receivers resynced is lost for good (a
        repeat, if the first PUBLISH did go out, is dropped by the sockets' id check)."""
        try:
            await super().publish(channel, message)
        except RedisConnectionError:
            await super().publish(channel, message)

    def _resync(self) -> None:
        """Every local channel hears ``rt.resync`` before the new connection's messages."""
        layer = self.channel_layer
        data = layer.channel_layer.serialize(RESYNC)
        for queue in list(layer.channels.values()):
            queue.put_nowait(data)
        metrics.emit("METRIC_REALTIME_LAYER_RESYNC", channels=len(layer.channels))


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]


class RedisPubSubChannelLayer(_BaseLayer):
    """channels-redis's pub/sub layer whose sockets hear ``rt.resync`` after a lost
    connection (see the module docstring)."""

    def _get_layer(self) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
