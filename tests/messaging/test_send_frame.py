"""Sending over the realtime WebSocket: ``{"type": "send", "kind": "message.send", ...}``
reaches ``message_send`` -- the service ``POST /api/conversations/{id}/messages`` calls -- and
answers what REST answers (issue 15, Deliver 1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from audit.models import Event as AuditEvent
from messaging.models import Conversation, Message
from realtime.models import Event as RealtimeEvent
from tests.messaging.conftest import ChatWorld, make_user
from tests.messaging.test_api import as_user
from tests.realtime.ws import Socket, anon_ticket, authed_socket, close_thread_connections
from tests.realtime.ws import user_ticket as ticket_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("_threads")]

KIND = "message.send"


@pytest.fixture
async def _threads() -> AsyncIterator[None]:
    yield
    await close_thread_connections()


def send_frame(conversation_id: object, cid: object, body: object, **extra: Any) -> dict[str, Any]:
    frame = {"type": "send", "kind": KIND, "ref": f"r-{cid}", "conversationId": conversation_id}
    frame.update(clientMessageId=cid, body=body, **extra)
    return frame


async def sent(sock: Socket, frame: dict[str, Any]) -> dict[str, Any]:
    await sock.send(frame)
    return await sock.recv()


def _active_world(countries: list[str]) -> tuple[ChatWorld, Conversation]:
    chat = ChatWorld("AR")
    return chat, chat.active()


async def test_message_send_frame_answers_what_rest_answers_and_a_retry_is_replayed(
    countries: list[str],
) -> None:
    chat, conversation = await sync_to_async(_active_world)(countries)
    buyer = await authed_socket(await sync_to_async(ticket_of)(chat.buyer))
    seller = await authed_socket(await sync_to_async(ticket_of)(chat.seller))
    await seller.subscribe(conversation.stream)

    first = await sent(buyer, send_frame(conversation.pk, "ws-1", "¿Llega hoy?"))
    assert (first["type"], first["kind"], first["ref"]) == ("sent", KIND, "r-ws-1")
    assert "replayed" not in first
    data = first["data"]
    assert (data["conversationId"], data["seq"], data["senderRole"]) == (
        conversation.pk,
        2,
        "buyer",
    )
    assert data["moderation"] == {"verdict": "allow", "reasons": []}

    # the same clientMessageId over REST: 200 with the very same JSON
    rest = await sync_to_async(
        lambda: as_user(chat.buyer).post(
            f"/api/conversations/{conversation.pk}/messages",
            {"clientMessageId": "ws-1", "body": "¿Llega hoy?"},
            format="json",
        )
    )()
    assert rest.status_code == 200, rest.content
    assert rest.json() == data
    # ... and again over the socket: replayed, same JSON
    again = await sent(buyer, send_frame(conversation.pk, "ws-1", "¿Llega hoy?"))
    assert again == {"type": "sent", "kind": KIND, "ref": "r-ws-1", "data": data, "replayed": True}

    # one row, one audit entry, one realtime event, and the seller saw it once
    def history() -> tuple[int, int, int]:
        return (
            Message.objects.filter(conversation=conversation, client_message_id="ws-1").count(),
            AuditEvent.objects.filter(action="message.sent", target_id=str(conversation.pk))
            .filter(data__clientMessageId="ws-1")
            .count(),
            RealtimeEvent.objects.filter(
                stream=conversation.stream, type="message.created", payload__messageId=data["id"]
            ).count(),
        )

    assert await sync_to_async(history)() == (1, 1, 1)
    event = await seller.recv()
    assert (event["event"], event["data"]["messageId"]) == ("message.created", data["id"])
    assert await seller.nothing()
    await buyer.close()
    await seller.close()


async def test_message_send_frame_anonymous_recipient_and_redaction(countries: list[str]) -> None:
    def world() -> tuple[ChatWorld, Conversation, str]:
        chat = ChatWorld("AR")
        order = chat.new_order()
        return chat, chat.active(order), anon_ticket(chat.recipient(order))

    _, conversation, ticket = await sync_to_async(world)()
    recipient = await authed_socket(ticket)
    answer = await sent(
        recipient, send_frame(conversation.pk, "anon-1", "llamame al 11 4187 2233 mejor")
    )
    assert answer["type"] == "sent", answer
    assert answer["data"]["senderRole"] == "recipient"
    assert answer["data"]["moderation"]["verdict"] == "redact"
    assert "4187" not in answer["data"]["body"] and "originalBody" not in answer["data"]
    await recipient.close()


async def test_message_send_frame_refusals_carry_the_service_codes(countries: list[str]) -> None:
    def world() -> tuple[ChatWorld, Conversation, Conversation, str, str]:
        chat = ChatWorld("AR")
        dormant = chat.conversation(chat.new_order())
        stranger = make_user("stranger.frame@t.test")
        return chat, chat.active(), dormant, ticket_of(chat.buyer), ticket_of(stranger)

    chat, active, dormant, buyer_ticket, stranger_ticket = await sync_to_async(world)()
    buyer = await authed_socket(buyer_ticket)
    stranger = await authed_socket(stranger_ticket)

    async def code(sock: Socket, frame: dict[str, Any]) -> tuple[str, Any]:
        answer = await sent(sock, frame)
        assert answer["type"] == "error", answer
        assert answer["ref"] == frame["ref"] and answer["requestId"], answer
        return answer["code"], answer.get("details")

    assert (await code(buyer, send_frame(dormant.pk, "d-1", "hola")))[0] == (
        "CONVERSATION_NOT_ACTIVE"
    )
    assert (await code(stranger, send_frame(active.pk, "s-1", "hola")))[0] == (
        "NOT_FOUND_OR_NO_ACCESS"
    )
    for bad_id in ("12", 0, -1, True, 2**63, None):
        assert (await code(buyer, send_frame(bad_id, "x-1", "hola")))[0] == (
            "NOT_FOUND_OR_NO_ACCESS"
        )
    missing = {"type": "send", "kind": KIND, "ref": "m", "clientMessageId": "m-1", "body": "x"}
    assert await code(buyer, missing) == ("VALIDATION_ERROR", {"conversationId": ["Required."]})
    assert await code(buyer, send_frame(active.pk, "u-1", "hola", extra=1)) == (
        "VALIDATION_ERROR",
        {"extra": ["Unknown field."]},
    )
    empty_code, empty = await code(buyer, send_frame(active.pk, "e-1", "   "))
    assert empty_code == "VALIDATION_ERROR" and set(empty) == {"body"}
    bad_code, bad = await code(buyer, send_frame(active.pk, "no spaces!", 7))
    assert bad_code == "VALIDATION_ERROR" and set(bad) == {"clientMessageId", "body"}

    assert (await sent(buyer, send_frame(active.pk, "k-1", "primero")))["type"] == "sent"
    assert (await code(buyer, send_frame(active.pk, "k-1", "otro texto")))[0] == (
        "IDEMPOTENCY_KEY_REUSED"
    )
    blocked_code, blocked = await code(
        buyer, send_frame(active.pk, "b-1", "te pago por fuera, pasame tu alias de mercado pago")
    )
    assert blocked_code == "MESSAGE_BLOCKED" and "PAYMENT_BYPASS" in blocked["reasons"]

    def rows() -> list[str]:
        return sorted(
            Message.objects.filter(sender_user=chat.buyer).values_list(
                "client_message_id", flat=True
            )
        )

    assert await sync_to_async(rows)() == ["k-1"]
    await buyer.close()
    await stranger.close()


async def test_message_send_frame_of_the_longest_body_fits_the_frame_limit(
    countries: list[str],
) -> None:
    chat, conversation = await sync_to_async(_active_world)(countries)
    buyer = await authed_socket(await sync_to_async(ticket_of)(chat.buyer))
    # the longest body REST takes, in 4-byte characters (8,000 bytes of UTF-8), not spam
    body = "".join(chr(0x1F300 + n % 700) for n in range(2000))
    frame = send_frame(conversation.pk, "L" * 64, body)
    frame["ref"] = "R" * 64
    await buyer.send_text(json.dumps(frame, ensure_ascii=False))
    answer = await buyer.recv()
    assert answer["type"] == "sent", answer
    assert answer["data"]["body"] == body
    await buyer.close()


@pytest.mark.redis
async def test_message_send_frame_rate_limited_carries_retry_after(
    countries: list[str], settings: Any
) -> None:
    settings.MESSAGING_RATE_PER_CONVERSATION = 1
    settings.MESSAGING_RATE_WINDOW_SECONDS = 10**6  # no window boundary mid-test (fixed windows)
    chat, conversation = await sync_to_async(_active_world)(countries)
    buyer = await authed_socket(await sync_to_async(ticket_of)(chat.buyer))
    assert (await sent(buyer, send_frame(conversation.pk, "r-1", "uno")))["type"] == "sent"
    limited = await sent(buyer, send_frame(conversation.pk, "r-2", "dos"))
    assert (limited["type"], limited["code"]) == ("error", "RATE_LIMITED")
    assert isinstance(limited["retryAfter"], int) and limited["retryAfter"] >= 1
    # a retry of the message that got through is no new message: never a 429
    again = await sent(buyer, send_frame(conversation.pk, "r-1", "uno"))
    assert (again["type"], again.get("replayed")) == ("sent", True)
    # the REST twin of the refusal
    rest = await sync_to_async(
        lambda: as_user(chat.buyer).post(
            f"/api/conversations/{conversation.pk}/messages",
            {"clientMessageId": "r-2", "body": "dos"},
            format="json",
        )
    )()
    assert (rest.status_code, rest.json()["code"]) == (429, "RATE_LIMITED")
    await buyer.close()
