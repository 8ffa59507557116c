"""The ASGI app routes WebSockets behind the Origin allow-list; unknown paths close cleanly."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from aventide.asgi import application

ALLOWED = (b"origin", b"http://127.0.0.1:8000")

# Channels closes stale DB connections around each consumer call.
pytestmark = pytest.mark.django_db(transaction=True)


async def test_unknown_websocket_path_is_refused_with_4404() -> None:
    communicator = WebsocketCommunicator(application, "/ws/nowhere/", headers=[ALLOWED])
    connected, code = await communicator.connect()
    assert connected is False
    assert code == 4404
    await communicator.disconnect()


async def test_websocket_from_a_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/nowhere/", headers=[(b"origin", b"https://evil.example")]
    )
    connected, code = await communicator.connect()
    assert connected is False
    assert code != 4404  # refused by the Origin check before any route runs
    await communicator.disconnect()
