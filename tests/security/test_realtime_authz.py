"""Who may open /ws/realtime/ and subscribe to what: every identity kind x every stream kind
gets the exact answer (issue 11 acceptance). Also: a foreign Origin is refused, a ticket
never reaches a log line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.core.principal import SYSTEM
from aventide.orders import services as orders
from messaging.models import Conversation
from tests.accounts.factories import anonymous_principal, ensure_countries, principal
from tests.orders.conftest import make_staff, make_user
from tests.realtime.ws import (
    anon_ticket,
    close_thread_connections,
    open_socket,
    user_session_ticket,
    user_ticket,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("_close_thread_connections"),
]


@pytest.fixture
async def _close_thread_connections() -> AsyncIterator[None]:
    yield
    await close_thread_connections()


OK = "subscribed"
AUTH = "AUTH_REQUIRED"
FORBIDDEN = "FORBIDDEN_STREAM"
NOT_MEMBER = "NOT_ROOM_MEMBER"

STREAMS = (
    "user:buyer",
    "anon:recipient",
    "order",
    "order:missing",
    "conversation",
    "conversation:missing",
    "staff:AR",
)

#: identity -> the answer to each of STREAMS, in order.
MATRIX: dict[str, tuple[str, ...]] = {
    "none": (AUTH,) * 7,
    "bad ticket": (AUTH,) * 7,
    "reused ticket": (AUTH,) * 7,
    "logged-out user": (AUTH,) * 7,
    "revoked anonymous": (AUTH,) * 7,
    "buyer": (OK, FORBIDDEN, OK, NOT_MEMBER, OK, NOT_MEMBER, FORBIDDEN),
    "seller": (NOT_MEMBER, FORBIDDEN, OK, NOT_MEMBER, OK, NOT_MEMBER, FORBIDDEN),
    "other buyer": (
        NOT_MEMBER,
        FORBIDDEN,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        FORBIDDEN,
    ),
    "anonymous recipient": (FORBIDDEN, OK, OK, NOT_MEMBER, OK, NOT_MEMBER, FORBIDDEN),
    "anonymous of another order": (
        FORBIDDEN,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        FORBIDDEN,
    ),
    "staff AR": (NOT_MEMBER, FORBIDDEN, OK, NOT_MEMBER, OK, NOT_MEMBER, OK),
    "staff MX": (
        NOT_MEMBER,
        FORBIDDEN,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
        NOT_MEMBER,
    ),
}


@dataclass
class World:
    streams: dict[str, str] = field(default_factory=dict)
    tickets: dict[str, str | None] = field(default_factory=dict)


def _order_for(buyer: User, seller: User) -> tuple[int, Any]:
    listing = orders.listing_create(actor=principal(seller), title="Flores", price_minor=15_000)
    created = orders.order_create(
        actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana"
    )
    assert created.recipient_access is not None
    return created.order.pk, created.recipient_access.anon_id


def build_world() -> World:
    """An AR order (buyer, seller, anonymous recipient), another buyer's order, a revoked
    recipient, staff of AR and MX -- and a ticket (or none) for each identity kind."""
    ensure_countries()
    seller = make_user("seller@t.test", "AR", is_seller=True)
    buyer = make_user("buyer@t.test", "AR")
    other_buyer = make_user("other@t.test", "AR")
    order_id, recipient = _order_for(buyer, seller)
    conversation_id = Conversation.objects.get(order_id=order_id).pk
    _, other_recipient = _order_for(other_buyer, seller)
    _, revoked_recipient = _order_for(other_buyer, seller)
    world = World()
    world.streams = {
        "user:buyer": f"user:{buyer.pk}",
        "anon:recipient": f"anon:{recipient}",
        "order": f"order:{order_id}",
        "order:missing": f"order:{order_id + 1000}",
        "conversation": f"conversation:{conversation_id}",
        "conversation:missing": f"conversation:{conversation_id + 1000}",
        "staff:AR": "staff:AR",
    }
    reused = user_ticket(buyer)
    accounts.ws_ticket_redeem(ticket=reused)
    logged_out, family = user_session_ticket(other_buyer)
    accounts.session_logout(actor=principal(other_buyer), family_id=family)
    revoked = anon_ticket(anonymous_principal(revoked_recipient))
    accounts.anonymous_identity_revoke(actor=SYSTEM, anon_id=revoked_recipient)
    world.tickets = {
        "none": None,
        "bad ticket": "not-a-ticket-but-long-enough-to-look-like-one",
        "reused ticket": reused,
        "logged-out user": logged_out,
        "revoked anonymous": revoked,
        "buyer": user_ticket(buyer),
        "seller": user_ticket(seller),
        "other buyer": user_ticket(other_buyer),
        "anonymous recipient": anon_ticket(anonymous_principal(recipient)),
        "anonymous of another order": anon_ticket(anonymous_principal(other_recipient)),
        "staff AR": user_ticket(make_staff("L1", ["AR"], "l1.ar@t.test")),
        "staff MX": user_ticket(make_staff("L2", ["MX"], "l2.mx@t.test")),
    }
    return world


async def answers_for(world: World, identity: str) -> tuple[str, ...]:
    """Open a socket as ``identity`` and subscribe to each stream: the answer codes."""
    sock, connected, _ = await open_socket()
    assert connected
    ticket = world.tickets[identity]
    if ticket is not None:
        await sock.send({"type": "auth", "ticket": ticket})
        first = await sock.recv()
        if first["type"] == "error":
            assert first["code"] == AUTH
            assert await sock.closed_with() == 4401
            return (AUTH,) * len(STREAMS)
        assert first["type"] == "authenticated"
    else:
        await sock.send({"type": "subscribe", "stream": world.streams["user:buyer"]})
        assert (await sock.recv())["code"] == AUTH
        assert await sock.closed_with() == 4401
        return (AUTH,) * len(STREAMS)
    codes = []
    for name in STREAMS:
        answer = await sock.subscribe(world.streams[name])
        assert answer.get("stream") == world.streams[name]
        codes.append(answer["type"] if answer["type"] == OK else answer["code"])
    await sock.close()
    return tuple(codes)


@pytest.mark.parametrize("identity", list(MATRIX))
async def test_identity_x_stream_kind_gets_the_exact_answer(identity: str) -> None:
    world = await sync_to_async(build_world)()
    got = await answers_for(world, identity)
    assert dict(zip(STREAMS, got, strict=True)) == dict(zip(STREAMS, MATRIX[identity], strict=True))


async def test_a_staff_member_of_mx_asking_for_the_ar_queue_is_counted_not_served() -> None:
    from aventide.core import metrics

    world = await sync_to_async(build_world)()
    before = metrics.count_of("METRIC_REALTIME_AUTHZ_DENIED", reason=NOT_MEMBER)
    assert (await answers_for(world, "staff MX"))[-1] == NOT_MEMBER
    assert metrics.count_of("METRIC_REALTIME_AUTHZ_DENIED", reason=NOT_MEMBER) > before


async def test_a_foreign_origin_is_refused() -> None:
    for origin in (b"https://evil.example", b"null", b"http://127.0.0.1:8000.evil.example"):
        _, connected, _ = await open_socket(origin=(b"origin", origin))
        assert connected is False, origin


async def test_a_ticket_never_appears_in_a_log_line(
    json_logs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world = await sync_to_async(build_world)()
    # A good ticket in the first frame, a good one in the subprotocol header, bad ones.
    await answers_for(world, "buyer")
    ticket = world.tickets["seller"]
    sock, connected, _ = await open_socket(subprotocols=["aventide.v1", f"ticket.{ticket}"])
    assert connected and (await sock.recv())["type"] == "authenticated"
    await sock.close()
    await answers_for(world, "bad ticket")
    await answers_for(world, "reused ticket")
    logged = json_logs.text + caplog.text
    assert "METRIC_REALTIME_WS_CONNECTED" in logged  # the log was captured at all
    for name, value in world.tickets.items():
        if value is not None:
            assert value not in logged, name
