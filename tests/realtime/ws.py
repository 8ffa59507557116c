"""Helpers of the WebSocket tests: a socket on the real ASGI app, tickets from real sessions."""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.asgi import application
from aventide.core.principal import Principal
from tests.accounts.factories import principal

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
PATH = "/ws/realtime/"
TIMEOUT = 5


def user_ticket(user: User) -> str:
    """A ticket as ``POST /api/auth/ws-token`` gives it: bound to a fresh login session."""
    session = accounts.session_start(user=user, method="password")
    return accounts.ws_ticket_issue(actor=principal(user), session_id=session.family_id)


def user_session_ticket(user: User) -> tuple[str, str]:
    """(ticket, session id) -- for tests that log the session out afterwards."""
    session = accounts.session_start(user=user, method="password")
    ticket = accounts.ws_ticket_issue(actor=principal(user), session_id=session.family_id)
    return ticket, str(session.family_id)


def anon_ticket(anon: Principal) -> str:
    return accounts.ws_ticket_issue(actor=anon)


class Socket:
    """A WebSocket client of the ASGI app (Channels' communicator) speaking JSON frames."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.c = communicator
        self.subprotocol: str | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.c.send_to(text_data=json.dumps(frame))

    async def send_text(self, text: str) -> None:
        await self.c.send_to(text_data=text)

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = await self.c.receive_output(timeout)
        assert message["type"] == "websocket.send", message
        frame: dict[str, Any] = json.loads(message["text"])
        return frame

    async def closed_with(self, timeout: float = TIMEOUT) -> int:
        """The close code of the next output, which must be a close."""
        message = await self.c.receive_output(timeout)
        assert message["type"] == "websocket.close", message
        return int(message.get("code", 1000))

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.c.receive_nothing(timeout=timeout)

    async def subscribe(self, stream: str, since: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "subscribe", "stream": stream}
        if since is not None:
            frame["since"] = since
        await self.send(frame)
        return await self.recv()

    async def close(self) -> None:
        await self.c.disconnect()


async def open_socket(
    *, subprotocols: list[str] | None = None, origin: tuple[bytes, bytes] = ORIGIN
) -> tuple[Socket, bool, Any]:
    communicator = WebsocketCommunicator(
        application, PATH, headers=[origin], subprotocols=subprotocols
    )
    connected, detail = await communicator.connect(timeout=TIMEOUT)
    sock = Socket(communicator)
    if connected:
        sock.subprotocol = detail
    return sock, connected, detail


async def authed_socket(ticket: str) -> Socket:
    """A socket authenticated with ``ticket`` in its first frame."""
    sock, connected, _ = await open_socket()
    assert connected
    await sock.send({"type": "auth", "ticket": ticket})
    frame = await sock.recv()
    assert frame["type"] == "authenticated", frame
    return sock


async def close_thread_connections() -> None:
    """Close the database connection the consumer's sync thread opened (else the test
    database cannot be dropped at the end of the session)."""
    await sync_to_async(connections.close_all)()
