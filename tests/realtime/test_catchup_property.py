"""Property: for random publishes and random resume points, paging with ``hasMore`` returns
exactly the principal's events after the cursor, in order, with no gap and no duplicate."""

from __future__ import annotations

import itertools
import string

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aventide.core.principal import Principal, PrincipalKind
from realtime import selectors, services

pytestmark = pytest.mark.django_db

_user_ids = itertools.count(10_000)
_countries = itertools.cycle(a + b for a in string.ascii_uppercase for b in string.ascii_uppercase)

#: (stream number, audience: which of the 3 users, whether the staff queue gets it)
publish_op = st.tuples(
    st.integers(min_value=1, max_value=4),
    st.sets(st.integers(min_value=0, max_value=2), max_size=3),
    st.booleans(),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(publish_op, min_size=0, max_size=30),
    resume=st.integers(min_value=0, max_value=40),
    limits=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=5),
    who=st.integers(min_value=0, max_value=3),
    one_stream=st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
)
def test_paging_from_any_cursor_returns_exactly_the_log_after_it(
    ops: list[tuple[int, set[int], bool]],
    resume: int,
    limits: list[int],
    who: int,
    one_stream: int | None,
) -> None:
    users = [next(_user_ids) for _ in range(3)]
    country = next(_countries)
    base = 1_000_000 * users[0]  # streams of this example only
    principals = [Principal(kind=PrincipalKind.USER, id=str(u)) for u in users]
    principals.append(
        Principal(kind=PrincipalKind.STAFF, id=str(users[0]), countries=frozenset({country}))
    )
    reader = principals[who]
    start = selectors.current_cursor()
    log: list[tuple[int, str, set[str]]] = []  # (id, stream, audience) -- the model
    for stream_no, members, to_staff in ops:
        audience = {f"user:{users[m]}" for m in members} | (
            {f"staff:{country}"} if to_staff else set()
        )
        if not audience:
            continue
        stream = f"order:{base + stream_no}"
        with transaction.atomic():
            event_id = services.publish(
                stream=stream, type="test.event", payload={"n": stream_no}, audience=audience
            )
        log.append((event_id, stream, audience))

    keys = set([f"user:{reader.id}"] + ([f"staff:{country}"] if reader.is_staff else []))
    stream_filter = None if one_stream is None else f"order:{base + one_stream}"
    mine = [
        event_id
        for event_id, stream, audience in log
        if audience & keys and (stream_filter is None or stream == stream_filter)
    ]
    # resume from the start, from one of the log's ids (anyone's), or from the head
    points = [start] + [event_id for event_id, _, _ in log]
    cursor = points[resume % len(points)]
    expected = [event_id for event_id in mine if event_id > cursor]

    got: list[int] = []
    for step in itertools.count():
        page = selectors.events_for(
            principal=reader, since=cursor, limit=limits[step % len(limits)], stream=stream_filter
        )
        ids = [frame["id"] for frame in page.events]
        assert ids == sorted(ids)
        if ids:
            assert ids[0] > cursor
        got.extend(ids)
        assert page.next_cursor >= cursor
        cursor = page.next_cursor
        if not page.has_more:
            break
        assert ids, "hasMore with an empty page would loop forever"
        assert step < 100
    assert got == expected  # exactly the log after the cursor: no gap, no duplicate
    assert cursor == selectors.current_cursor()  # caught up: the cursor is the head
