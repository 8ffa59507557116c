"""Resume with ``since``: a client that disconnects (frames in flight are lost) and resumes
from the last event it processed ends with exactly the log's events after its cursor -- no
gap, no duplicate -- while events keep being published during the handovers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aventide.accounts.models import User
from realtime import selectors, services
from tests.accounts.factories import make_user, principal
from tests.realtime.ws import Socket, authed_socket, user_ticket

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("_close_thread_connections"),
]


def _publish(stream: str, audience: list[str], **payload: Any) -> int:
    with transaction.atomic():
        return services.publish(stream=stream, type="test.tick", payload=payload, audience=audience)


class Publisher(threading.Thread):
    """Publishes ``count`` events to the user's stream (plus noise the user must not get:
    another audience on the same stream, the same audience on another stream)."""

    def __init__(self, user: User, count: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.user, self.count, self.pause = user, count, pause
        self.ids: list[int] = []

    def run(self) -> None:
        stream, key = f"user:{self.user.pk}", f"user:{self.user.pk}"
        try:
            for i in range(self.count):
                self.ids.append(_publish(stream, [key], i=i))
                _publish(stream, ["user:999999"], noise=i)
                _publish("user:999999", [key], noise=i)
                time.sleep(self.pause)
        finally:
            connection.close()


async def _events_until(sock: Socket, *, count: int | None, last_id: int | None) -> list[int]:
    """Event ids received until ``count`` events, or until the one with ``last_id``."""
    got: list[int] = []
    while True:
        frame = await sock.recv(timeout=10)
        if frame["type"] == "event":
            got.append(frame["id"])
            if count is not None and len(got) >= count:
                return got
            if last_id is not None and frame["id"] >= last_id:
                return got
        else:
            assert frame["type"] in ("subscribed", "caughtUp"), frame


async def test_resume_sends_the_missed_events_then_live_in_order() -> None:
    user = await sync_to_async(make_user)()
    stream, key = f"user:{user.pk}", f"user:{user.pk}"
    start = await sync_to_async(_publish)(stream, [key], i=0)
    missed = [await sync_to_async(_publish)(stream, [key], i=n) for n in (1, 2, 3)]
    await sync_to_async(_publish)(stream, ["user:999999"], noise=1)
    sock = await authed_socket(await sync_to_async(user_ticket)(user))
    assert await sock.subscribe(stream, since=start) == {
        "type": "subscribed",
        "stream": stream,
        "since": start,
    }
    assert [(await sock.recv())["id"] for _ in missed] == missed
    assert await sock.recv() == {"type": "caughtUp", "stream": stream, "cursor": missed[-1]}
    live = await sync_to_async(_publish)(stream, [key], i=4)
    assert (await sock.recv())["id"] == live
    await sock.close()


async def test_a_bad_or_future_cursor_is_refused_with_the_catchup_codes() -> None:
    user = await sync_to_async(make_user)()
    sock = await authed_socket(await sync_to_async(user_ticket)(user))
    for since, code in (
        (-1, "INVALID_CURSOR"),
        ("x", "INVALID_CURSOR"),
        (10**15, "INVALID_CURSOR"),
    ):
        refused = await sock.subscribe(f"user:{user.pk}", since=since)  # type: ignore[arg-type]
        assert (refused["type"], refused["code"]) == ("error", code), since
    await sock.close()


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cuts=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=4))
async def test_disconnect_and_resume_ends_with_exactly_the_logs_events(cuts: list[int]) -> None:
    user = await sync_to_async(make_user)()
    tickets = [await sync_to_async(user_ticket)(user) for _ in range(len(cuts) + 1)]
    stream = f"user:{user.pk}"
    cursor = await sync_to_async(_publish)(stream, [f"user:{user.pk}"], i=-1)
    publisher = Publisher(user, count=sum(cuts) + 5, pause=0.01)
    publisher.start()
    received: list[int] = []
    try:
        for ticket, cut in zip(tickets, cuts, strict=False):
            sock = await authed_socket(ticket)
            await sock.send({"type": "subscribe", "stream": stream, "since": cursor})
            received += await _events_until(sock, count=cut, last_id=None)
            await sock.close()  # whatever else was in flight is lost
            cursor = received[-1]
        await asyncio.to_thread(publisher.join, 30)
        last = publisher.ids[-1]
        sock = await authed_socket(tickets[-1])
        await sock.send({"type": "subscribe", "stream": stream, "since": cursor})
        if cursor < last:
            received += await _events_until(sock, count=None, last_id=last)
        await sock.close()
    finally:
        await asyncio.to_thread(publisher.join, 30)
        await sync_to_async(close_old_connections)()

    def log_after(since: int) -> list[int]:
        page = selectors.events_for(
            principal=principal(user), since=since, limit=500, stream=stream
        )
        return [frame["id"] for frame in page.events]

    first_cursor = publisher.ids[0] - 1 if publisher.ids else cursor
    expected = await sync_to_async(log_after)(first_cursor)
    assert received == expected == publisher.ids
