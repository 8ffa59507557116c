"""WebSocket routes: ``/ws/realtime/`` (realtime.consumers), then a catch-all 4404."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from realtime.consumers import RealtimeConsumer


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    """Any WebSocket path nobody serves: refused with close code 4404 (not a 500)."""

    async def connect(self) -> None:
        await self.close(code=4404)


websocket_urlpatterns: list[Any] = [
    re_path(r"^ws/realtime/$", RealtimeConsumer.as_asgi()),
    re_path(r"^.*$", UnknownRouteConsumer.as_asgi()),
]
