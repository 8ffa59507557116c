"""The order chat end to end on the real stack (issue 14, acceptance): the ASGI server
(``python -m aventide.server``, a subprocess) on PostgreSQL and Redis, real WebSocket clients
(``websockets``) and HTTP clients.

The buyer opens the dormant chat and sends over REST -> the seller's WebSocket (authenticated
with a ticket from ``POST /api/auth/ws-token``, subscribed to ``conversation:<id>``) receives
the message event -> the seller acks ``read`` with a WebSocket ``ack`` frame -> the buyer's
socket gets the receipt and the buyer's REST reconcile shows the seller's ``readUpToSeq``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from messaging.models import Participant
from tests.ops.live_server import live_server
from tests.ops.test_pool_live import dsn

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ORIGIN = "http://127.0.0.1:8000"
WAIT_SECONDS = 30
PASSWORD = "Corr3ct-Horse-Battery"


def bearer(user: User) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {accounts.session_start(user=user, method='password').access}"
    }


def socket_for(http: httpx.Client, base: str, auth: dict[str, str]) -> ClientConnection:
    """A WebSocket authenticated the way a client does it: a ticket from the REST endpoint,
    sent in the first frame (never in the URL)."""
    issued = http.post("/api/auth/ws-token", headers=auth)
    assert issued.status_code == 200, issued.text
    ws = connect(
        base.replace("http://", "ws://") + "/ws/realtime/",
        origin=Origin(ORIGIN),
        open_timeout=10,
        proxy=None,
        legacy=True,  # a plain connection object (closed by the test)
    )
    ws.send(json.dumps({"type": "auth", "ticket": issued.json()["ticket"]}))
    assert json.loads(ws.recv(timeout=10))["type"] == "authenticated"
    return ws


def next_frame(ws: ClientConnection, accept: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    seen = []
    while time.monotonic() < deadline:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if accept(frame):
            return frame
        seen.append(frame)
    raise AssertionError(f"no such frame; got {seen}")


@pytest.mark.django_db(transaction=True)
def test_buyer_sends_seller_socket_receives_acks_read_buyer_reconcile_shows_read(
    tmp_path: Path, countries: list[str]
) -> None:
    buyer = User.objects.create_user(
        email="buyer.chat@t.test", password=PASSWORD, country_code="AR"
    )
    seller = User.objects.create_user(
        email="seller.chat@t.test", password=PASSWORD, country_code="AR", is_seller=True
    )
    as_buyer, as_seller = bearer(buyer), bearer(seller)
    env = {
        "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
        "WEB_CONCURRENCY": "1",
        "WS_ALLOWED_ORIGINS": ORIGIN,
    }
    with (
        live_server(tmp_path, env) as server,
        httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http,
    ):
        listing = http.post(
            "/api/listings", json={"title": "Flores", "priceMinor": 15000}, headers=as_seller
        )
        assert listing.status_code == 201, listing.text
        created = http.post(
            "/api/orders",
            json={"listingId": listing.json()["id"], "recipient": {"name": "Ana"}},
            headers=as_buyer,
        )
        assert created.status_code == 201, created.text
        got = http.get(f"/api/orders/{created.json()['id']}/conversation", headers=as_buyer)
        assert (got.status_code, got.json()["state"]) == (200, "dormant"), got.text
        conversation_id = got.json()["id"]
        stream = f"conversation:{conversation_id}"
        base = f"/api/conversations/{conversation_id}"

        seller_ws = socket_for(http, server.url, as_seller)
        buyer_ws = socket_for(http, server.url, as_buyer)
        for ws in (seller_ws, buyer_ws):
            ws.send(json.dumps({"type": "subscribe", "stream": stream}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"

        opened = http.post(
            f"{base}/activate", json={"reasonCode": "delivery_question"}, headers=as_buyer
        )
        assert (opened.status_code, opened.json()["state"]) == (200, "active"), opened.text
        sent = http.post(
            f"{base}/messages",
            json={"clientMessageId": "e2e-1", "body": "¿Llega antes de las 18?"},
            headers=as_buyer,
        )
        assert sent.status_code == 201, sent.text
        seq = sent.json()["seq"]
        assert seq == 2  # after the activation's system message

        # the seller's socket receives the message event
        event = next_frame(
            seller_ws,
            lambda f: f["type"] == "event"
            and f["event"] == "message.created"
            and f["data"]["seq"] == seq,
        )
        assert event["stream"] == stream
        assert event["data"]["messageId"] == sent.json()["id"]
        assert event["data"]["senderRole"] == "buyer"
        assert event["data"]["body"] == "¿Llega antes de las 18?"  # the text, live
        # ... and the same over REST
        page = http.get(f"{base}/messages", params={"afterSeq": seq - 1}, headers=as_seller)
        assert page.status_code == 200, page.text
        assert [m["body"] for m in page.json()["results"]] == ["¿Llega antes de las 18?"]

        # the seller acks read over the WebSocket
        seller_ws.send(
            json.dumps(
                {
                    "type": "ack",
                    "kind": "message.read",
                    "ref": "r-1",
                    "conversationId": conversation_id,
                    "upToSeq": seq,
                }
            )
        )
        acked = next_frame(seller_ws, lambda f: f["type"] in ("acked", "error"))
        assert acked["type"] == "acked", acked
        assert (acked["kind"], acked["ref"]) == ("message.read", "r-1")
        assert acked["data"]["role"] == "seller"
        assert (acked["data"]["deliveredUpToSeq"], acked["data"]["readUpToSeq"]) == (seq, seq)

        # a bad ack frame answers its code on the socket and changes nothing
        seller_ws.send(
            json.dumps(
                {
                    "type": "ack",
                    "kind": "message.read",
                    "ref": "r-2",
                    "conversationId": conversation_id,
                    "upToSeq": seq + 5,
                }
            )
        )
        refused = next_frame(seller_ws, lambda f: f["type"] in ("acked", "error"))
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "INVALID_ACK", "r-2")

        # the buyer's socket sees the receipt (the ticks) ...
        receipt = next_frame(
            buyer_ws, lambda f: f["type"] == "event" and f["event"] == "message.receipt"
        )
        assert receipt["data"] == {
            "conversationId": conversation_id,
            "role": "seller",
            "deliveredUpToSeq": seq,
            "readUpToSeq": seq,
        }
        # ... and the buyer's reconcile shows the seller's read
        state = http.post(f"{base}/reconcile", json={"lastSeqSeen": seq}, headers=as_buyer)
        assert state.status_code == 200, state.text
        body = state.json()
        assert (body["lastSeq"], body["behind"], body["missingFrom"]) == (seq, False, None)
        assert body["me"]["role"] == "buyer"
        others = {o["role"]: o for o in body["others"]}
        assert others["seller"] == {"role": "seller", "deliveredUpToSeq": seq, "readUpToSeq": seq}
        seller_ws.close()
        buyer_ws.close()
        log = server.log()
    row = Participant.objects.get(conversation_id=conversation_id, role="seller")
    assert (row.delivered_up_to_seq, row.read_up_to_seq) == (seq, seq)
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.django_db
def test_the_message_event_carries_the_delivered_text(countries: list[str]) -> None:
    from messaging.models import Conversation
    from realtime.models import Event as RealtimeEvent
    from tests.messaging.conftest import ChatWorld

    chat = ChatWorld("AR")
    conversation: Conversation = chat.active()
    chat.send(chat.p(chat.buyer), conversation, "¿Llega antes de las 18?")
    event = RealtimeEvent.objects.filter(stream=conversation.stream, type="message.created").latest(
        "id"
    )
    assert event.payload["body"] == "¿Llega antes de las 18?"
