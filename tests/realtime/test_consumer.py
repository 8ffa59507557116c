"""The WebSocket /ws/realtime/ protocol: auth, subscribe, live delivery, limits, acks, recheck."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.core import metrics
from aventide.core.errors import Conflict, RateLimited, ValidationFailed
from aventide.core.principal import SYSTEM, Principal
from realtime import contracts, presence, revocation
from realtime.contracts import Stream, event_frame
from tests.accounts.factories import make_staff, make_user, principal
from tests.realtime.ws import (
    authed_socket,
    open_socket,
    user_session_ticket,
    user_ticket,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("_close_thread_connections"),
]


def _user() -> tuple[User, str]:
    user = make_user()
    return user, user_ticket(user)


async def _publish(stream: str, event_id: int, audience: list[str], **data: Any) -> None:
    """What ``realtime.services.publish`` sends to a stream's group after commit."""
    frame = event_frame(
        event_id=event_id,
        stream=stream,
        event_type="test.happened",
        data=data,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    layer = get_channel_layer()
    assert layer is not None
    group = contracts.parse_stream(stream)
    assert group is not None
    await layer.group_send(group.group, {"type": "rt.event", "frame": frame, "audience": audience})


# --- authentication ---------------------------------------------------------------------------


async def test_auth_in_the_first_frame_then_subscribe_to_the_own_user_stream() -> None:
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    answer = await sock.subscribe(f"user:{user.pk}")
    assert answer == {"type": "subscribed", "stream": f"user:{user.pk}", "since": None}
    await sock.close()


async def test_auth_in_the_subprotocol_header_selects_the_protocol_without_the_ticket() -> None:
    _, ticket = await sync_to_async(_user)()
    sock, connected, selected = await open_socket(subprotocols=["aventide.v1", f"ticket.{ticket}"])
    assert connected and selected == "aventide.v1"
    assert (await sock.recv())["type"] == "authenticated"
    await sock.close()


async def test_a_bad_ticket_gets_auth_required_and_close_4401() -> None:
    sock, connected, _ = await open_socket()
    assert connected
    await sock.send({"type": "auth", "ticket": "x" * 43})
    assert (await sock.recv())["code"] == "AUTH_REQUIRED"
    assert await sock.closed_with() == 4401


async def test_a_ticket_works_once() -> None:
    _, ticket = await sync_to_async(_user)()
    first = await authed_socket(ticket)
    second, _, _ = await open_socket()
    await second.send({"type": "auth", "ticket": ticket})
    assert (await second.recv())["code"] == "AUTH_REQUIRED"
    assert await second.closed_with() == 4401
    await first.close()


async def test_no_auth_in_time_gets_auth_required_and_close_4401(settings: Any) -> None:
    settings.REALTIME_WS_AUTH_TIMEOUT_SECONDS = 0.2
    sock, connected, _ = await open_socket()
    assert connected
    assert (await sock.recv())["code"] == "AUTH_REQUIRED"
    assert await sock.closed_with() == 4401


async def test_a_subscribe_before_auth_gets_auth_required_and_close_4401() -> None:
    sock, _, _ = await open_socket()
    await sock.send({"type": "subscribe", "stream": "user:1"})
    assert (await sock.recv())["code"] == "AUTH_REQUIRED"
    assert await sock.closed_with() == 4401


async def test_a_foreign_origin_is_refused_before_any_frame() -> None:
    _, connected, _ = await open_socket(origin=(b"origin", b"https://evil.example"))
    assert connected is False


# --- frames, limits ----------------------------------------------------------------------------


async def test_ping_gets_pong_and_garbage_gets_bad_frame_without_closing() -> None:
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}
    await sock.send_text("not json")
    assert (await sock.recv())["code"] == "BAD_FRAME"
    await sock.send({"type": "teleport"})
    assert (await sock.recv())["code"] == "BAD_FRAME"
    await sock.send({"type": "subscribe", "stream": "order:abc"})
    assert (await sock.recv())["code"] == "INVALID_STREAM"
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}
    await sock.close()


async def test_a_frame_over_the_size_limit_closes_with_1009(settings: Any) -> None:
    settings.REALTIME_WS_MAX_FRAME_BYTES = 256
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    await sock.send({"type": "ping", "pad": "é" * 200})  # 400 bytes of UTF-8
    assert (await sock.recv())["code"] == "FRAME_TOO_LARGE"
    assert await sock.closed_with() == 1009


async def test_too_many_frames_per_second_closes_with_4429(settings: Any) -> None:
    settings.REALTIME_WS_MAX_FRAMES_PER_SECOND = 0.001
    settings.REALTIME_WS_FRAME_BURST = 3
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)  # the auth frame was the first of the burst
    for _ in range(2):
        await sock.send({"type": "ping"})
        assert await sock.recv() == {"type": "pong"}
    await sock.send({"type": "ping"})
    assert (await sock.recv())["code"] == "RATE_LIMITED"
    assert await sock.closed_with() == 4429


async def test_too_many_subscriptions_are_refused_and_the_socket_stays(settings: Any) -> None:
    settings.REALTIME_WS_MAX_SUBSCRIPTIONS = 1
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    assert (await sock.subscribe(f"user:{user.pk}"))["type"] == "subscribed"
    refused = await sock.subscribe("staff:AR")
    assert refused["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert (await sock.subscribe(f"user:{user.pk}"))["type"] == "subscribed"  # same one again
    await sock.close()


async def test_a_binary_frame_closes_with_1003() -> None:
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    await sock.c.send_to(bytes_data=b"\x00\x01")
    assert (await sock.recv())["code"] == "BAD_FRAME"
    assert await sock.closed_with() == 1003


# --- live delivery -------------------------------------------------------------------------------


async def test_live_events_reach_subscribed_sockets_of_their_audience_once() -> None:
    user, ticket = await sync_to_async(_user)()
    other, _ = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    stream = f"user:{user.pk}"
    await sock.subscribe(stream)
    await _publish(stream, 10, [f"user:{user.pk}"], n=1)
    frame = await sock.recv()
    assert (frame["type"], frame["id"], frame["stream"], frame["data"]) == (
        "event",
        10,
        stream,
        {"n": 1},
    )
    await _publish(stream, 10, [f"user:{user.pk}"], n=1)  # a duplicate
    await _publish(stream, 9, [f"user:{user.pk}"], n=0)  # older than what was sent
    await _publish(stream, 11, [f"user:{other.pk}"], n=2)  # someone else's audience
    await _publish(f"user:{other.pk}", 12, [f"user:{user.pk}"], n=3)  # not subscribed
    assert await sock.nothing()
    await _publish(stream, 13, [f"user:{user.pk}"], n=4)
    assert (await sock.recv())["id"] == 13
    await sock.close()


def _logged_events(stream: str, audience: list[str], count: int) -> list[int]:
    """``count`` committed events of ``stream`` in the log (no live fan-out of their own)."""
    from realtime.models import Event, InboxEntry

    ids = []
    for n in range(count):
        event = Event.objects.create(
            stream=stream, type="test.happened", payload={"n": n}, created_at=datetime.now(UTC)
        )
        InboxEntry.objects.bulk_create(
            [InboxEntry(audience_key=k, event_id=event.pk, stream=stream) for k in audience]
        )
        ids.append(int(event.pk))
    return ids


async def _publish_live(stream: str, event_id: int, prev: int | None, audience: list[str]) -> None:
    """The live message of a logged event, as ``realtime.services`` sends it (with ``prev``)."""
    frame = event_frame(
        event_id=event_id,
        stream=stream,
        event_type="test.happened",
        data={},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    layer = get_channel_layer()
    assert layer is not None
    group = contracts.parse_stream(stream)
    assert group is not None
    message = {"type": "rt.event", "frame": frame, "audience": audience, "prev": prev}
    await layer.group_send(group.group, message)


async def test_a_live_event_that_overtook_an_earlier_one_is_sent_after_it_not_instead() -> None:
    """Two processes fan out two events of one stream; the later one arrives first. The
    socket reads the log and sends both in order; the earlier one's late arrival is then a
    duplicate (before: it was dropped as one and the client never got it live)."""
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    stream = f"user:{user.pk}"
    audience = [f"user:{user.pk}"]
    await sock.subscribe(stream)
    first, second = await sync_to_async(_logged_events)(stream, audience, 2)
    await _publish_live(stream, second, first, audience)  # overtook ``first``
    assert [(await sock.recv())["id"], (await sock.recv())["id"]] == [first, second]
    await _publish_live(stream, first, None, audience)  # late: already sent
    assert await sock.nothing()
    [third] = await sync_to_async(_logged_events)(stream, audience, 1)
    await _publish_live(stream, third, second, audience)  # in order: straight through
    assert (await sock.recv())["id"] == third
    assert await sock.nothing()
    await sock.close()


async def test_an_unsubscribed_stream_gets_no_more_events() -> None:
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    stream = f"user:{user.pk}"
    await sock.subscribe(stream)
    await sock.send({"type": "unsubscribe", "stream": stream})
    assert await sock.recv() == {"type": "unsubscribed", "stream": stream, "reason": "CLIENT"}
    await _publish(stream, 20, [f"user:{user.pk}"])
    assert await sock.nothing()
    await sock.close()


# --- acks --------------------------------------------------------------------------------------


async def test_ack_frames_go_to_the_registered_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Principal, dict[str, Any]]] = []

    def handler(actor: Principal, data: dict[str, Any]) -> dict[str, Any] | None:
        seen.append((actor, data))
        if data.get("upto") == 0:
            raise Conflict()
        return {"readUpto": data["upto"]}

    monkeypatch.setitem(contracts._ACK_HANDLERS, "test.read", handler)
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    await sock.send({"type": "ack", "kind": "test.read", "ref": "a1", "upto": 7})
    assert await sock.recv() == {
        "type": "acked",
        "kind": "test.read",
        "ref": "a1",
        "data": {"readUpto": 7},
    }
    assert seen[0][0].user_id == user.pk and seen[0][1] == {"upto": 7}
    await sock.send({"type": "ack", "kind": "test.read", "ref": 2, "upto": 0})
    refused = await sock.recv()
    assert (refused["code"], refused["ref"]) == ("CONFLICT", 2) and refused["requestId"]
    await sock.send({"type": "ack", "kind": "nobody.handles", "ref": 3})
    assert (await sock.recv())["code"] == "UNKNOWN_ACK"
    await sock.close()


async def test_send_frames_go_to_the_registered_handler_and_carry_its_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[Principal, dict[str, Any]]] = []

    def handler(actor: Principal, data: dict[str, Any]) -> contracts.Sent:
        seen.append((actor, data))
        if data.get("n") == 0:
            raise ValidationFailed(details={"n": ["Must be positive."]})
        if data.get("n") == -1:
            raise RateLimited(retry_after=7)
        if data.get("n") == -2:
            raise RuntimeError("a bug")
        return contracts.Sent(data={"id": data["n"]}, replayed=data["n"] > 1)

    monkeypatch.setitem(contracts._SEND_HANDLERS, "test.send", handler)
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    await sock.send({"type": "send", "kind": "test.send", "ref": "s1", "n": 1})
    assert await sock.recv() == {
        "type": "sent",
        "kind": "test.send",
        "ref": "s1",
        "data": {"id": 1},
    }
    assert seen[0][0].user_id == user.pk and seen[0][1] == {"n": 1}
    await sock.send({"type": "send", "kind": "test.send", "ref": "s2", "n": 2})
    assert await sock.recv() == {
        "type": "sent",
        "kind": "test.send",
        "ref": "s2",
        "data": {"id": 2},
        "replayed": True,
    }
    await sock.send({"type": "send", "kind": "test.send", "ref": "s3", "n": 0})
    refused = await sock.recv()
    assert (refused["code"], refused["ref"]) == ("VALIDATION_ERROR", "s3") and refused["requestId"]
    assert refused["details"] == {"n": ["Must be positive."]}
    await sock.send({"type": "send", "kind": "test.send", "ref": "s4", "n": -1})
    limited = await sock.recv()
    assert (limited["code"], limited["retryAfter"], limited["ref"]) == ("RATE_LIMITED", 7, "s4")
    await sock.send({"type": "send", "kind": "test.send", "ref": "s5", "n": -2})
    failed = await sock.recv()
    assert (failed["code"], failed["ref"]) == ("INTERNAL_ERROR", "s5")
    assert "bug" not in failed["message"]
    await sock.send({"type": "send", "kind": "nobody.sends", "ref": 6})
    assert await sock.recv() == {
        "type": "error",
        "code": "UNKNOWN_SEND",
        "message": "No handler for this kind of send.",
        "ref": 6,
    }
    await sock.send({"type": "ping"})  # the socket lives on after every refusal
    assert await sock.recv() == {"type": "pong"}
    await sock.close()


async def test_send_frames_count_against_the_frame_rate_limit(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.REALTIME_WS_MAX_FRAMES_PER_SECOND = 0.001
    settings.REALTIME_WS_FRAME_BURST = 3
    monkeypatch.setitem(contracts._SEND_HANDLERS, "test.send", lambda p, d: contracts.Sent(data={}))
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)  # the auth frame is one of the burst
    for ref in (1, 2):
        await sock.send({"type": "send", "kind": "test.send", "ref": ref})
        assert (await sock.recv())["type"] == "sent"
    await sock.send({"type": "send", "kind": "test.send", "ref": 3})
    assert (await sock.recv())["code"] == "RATE_LIMITED"
    assert await sock.closed_with() == 4429


def test_registries_refuse_a_second_owner() -> None:
    def one(principal: Principal, stream: Stream) -> None:
        return None

    with pytest.raises(ValueError, match="not a stream kind"):
        contracts.register_stream_authorizer("staff", one)
    with pytest.raises(ValueError, match=r"lower\.dotted"):
        contracts.register_ack_handler("Bad Kind", lambda p, d: None)
    with pytest.raises(ValueError, match=r"send kind must be lower\.dotted"):
        contracts.register_send_handler("Bad Kind", lambda p, d: contracts.Sent(data={}))
    with pytest.raises(ValueError, match="already has a handler"):
        contracts.register_send_handler("message.send", lambda p, d: contracts.Sent(data={}))


# --- losing membership ---------------------------------------------------------------------


async def test_a_logout_closes_the_socket_with_session_revoked() -> None:
    user = await sync_to_async(make_user)()
    ticket, family = await sync_to_async(user_session_ticket)(user)
    sock = await authed_socket(ticket)
    await sock.subscribe(f"user:{user.pk}")
    await sync_to_async(lambda: accounts.session_logout(actor=principal(user), family_id=family))()
    assert (await sock.recv())["code"] == "SESSION_REVOKED"
    assert await sock.closed_with() == 4401


async def test_a_removed_staff_scope_stops_that_country_stream_at_once() -> None:
    staff = await sync_to_async(make_staff)(level="L1", countries=("AR", "MX"))
    ticket = await sync_to_async(user_ticket)(staff)
    sock = await authed_socket(ticket)
    assert (await sock.subscribe("staff:AR"))["type"] == "subscribed"
    assert (await sock.subscribe("staff:MX"))["type"] == "subscribed"

    def revoke_ar() -> None:
        accounts.staff_scope_revoke(actor=SYSTEM, staff=staff.staff_profile, country_code="AR")

    await sync_to_async(revoke_ar)()
    assert await sock.recv() == {
        "type": "unsubscribed",
        "stream": "staff:AR",
        "reason": "NOT_ROOM_MEMBER",
    }
    await _publish("staff:MX", 30, ["staff:MX"])
    assert (await sock.recv())["id"] == 30
    await sock.close()


async def test_stream_recheck_drops_sockets_that_lost_the_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    members: set[str] = set()

    def conversation_members(actor: Principal, stream: Stream) -> None:
        from realtime.errors import NotRoomMember

        if actor.pk not in members:
            raise NotRoomMember()

    monkeypatch.setitem(contracts._STREAM_AUTHORIZERS, "conversation", conversation_members)
    user, ticket = await sync_to_async(_user)()
    members.add(f"user:{user.pk}")
    sock = await authed_socket(ticket)
    assert (await sock.subscribe("conversation:5"))["type"] == "subscribed"
    members.clear()
    await sync_to_async(revocation.stream_recheck)(stream="conversation:5")
    assert await sock.recv() == {
        "type": "unsubscribed",
        "stream": "conversation:5",
        "reason": "NOT_ROOM_MEMBER",
    }
    await sock.close()


async def test_the_periodic_reauthorization_catches_a_change_nobody_announced(
    settings: Any,
) -> None:
    settings.REALTIME_WS_HEARTBEAT_SECONDS = 0.05
    settings.REALTIME_WS_REAUTH_SECONDS = 0.05
    user = await sync_to_async(make_user)()
    ticket, family = await sync_to_async(user_session_ticket)(user)
    sock = await authed_socket(ticket)
    # Revoked behind the services' back: no listener fires; the backstop finds it.
    from aventide.accounts.models import RefreshFamily

    await sync_to_async(
        lambda: RefreshFamily.objects.filter(pk=family).update(revoked_at=datetime.now(UTC))
    )()
    assert (await sock.recv())["code"] == "SESSION_REVOKED"
    assert await sock.closed_with() == 4401


# --- presence, metrics ------------------------------------------------------------------------


async def test_presence_counts_open_sockets_and_forgets_closed_ones() -> None:
    user, ticket = await sync_to_async(_user)()
    p = await sync_to_async(principal)(user)
    assert not await sync_to_async(presence.is_online)(p)
    sock = await authed_socket(ticket)
    second = await authed_socket(await sync_to_async(user_ticket)(user))
    assert await sync_to_async(presence.connection_count)(f"user:{user.pk}") == 2
    await sock.close()
    assert await sync_to_async(presence.is_online)(p)
    await second.close()
    assert not await sync_to_async(presence.is_online)(p)


async def test_a_denied_subscription_is_counted_by_reason() -> None:
    _, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    before = metrics.count_of("METRIC_REALTIME_AUTHZ_DENIED", reason="FORBIDDEN_STREAM")
    assert (await sock.subscribe("staff:AR"))["code"] == "FORBIDDEN_STREAM"
    after = metrics.count_of("METRIC_REALTIME_AUTHZ_DENIED", reason="FORBIDDEN_STREAM")
    assert after == before + 1
    await sock.close()


async def test_live_events_and_frames_are_handled_without_a_thread_hop_per_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Channels' dispatch hops to a sync thread for every message to close stale database
    connections; this consumer's database calls do that themselves
    (``database_sync_to_async``), so its live events and frames never pay for the hop."""
    import channels.consumer

    hops: list[int] = []

    async def counting() -> None:
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    user, ticket = await sync_to_async(_user)()
    sock = await authed_socket(ticket)
    stream = f"user:{user.pk}"
    await sock.subscribe(stream)
    for n in range(1, 6):
        await _publish(stream, n, [f"user:{user.pk}"], n=n)
        assert (await sock.recv())["id"] == n
    await sock.send({"type": "ping"})
    assert (await sock.recv())["type"] == "pong"
    await sock.close()
    assert hops == []
