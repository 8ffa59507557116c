"""``realtime.selectors.events_for``: a principal's own events after a cursor, in order, with
the cursor rules (INVALID_CURSOR, CURSOR_EXPIRED) -- never a silent partial list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from aventide.core.principal import Principal, PrincipalKind
from realtime import selectors, services
from realtime.errors import CursorExpired, InvalidCursor

pytestmark = pytest.mark.django_db

ANON_ID = "2f1c4f4e-4d8b-4bfa-9a41-4c3a8f1f0a11"
OTHER_ANON_ID = "9a1c4f4e-4d8b-4bfa-9a41-4c3a8f1f0a22"

BUYER = Principal(kind=PrincipalKind.USER, id="1")
SELLER = Principal(kind=PrincipalKind.USER, id="2")
STRANGER = Principal(kind=PrincipalKind.USER, id="99")
RECIPIENT = Principal(kind=PrincipalKind.ANONYMOUS, id=ANON_ID, order_id=7)
OTHER_RECIPIENT = Principal(kind=PrincipalKind.ANONYMOUS, id=OTHER_ANON_ID, order_id=8)
STAFF_AR = Principal(kind=PrincipalKind.STAFF, id="50", level="L1", countries=frozenset({"AR"}))
STAFF_MX = Principal(kind=PrincipalKind.STAFF, id="51", level="L1", countries=frozenset({"MX"}))


def publish(stream: str, audience: list[str], **payload: Any) -> int:
    with transaction.atomic():
        return services.publish(
            stream=stream, type="order.status_changed", payload=payload, audience=audience
        )


def order_event(order_id: int, country: str = "AR", anon: str = ANON_ID) -> int:
    return publish(
        f"order:{order_id}",
        ["user:1", "user:2", f"anon:{anon}", f"staff:{country}"],
        orderId=order_id,
    )


def ids(page: selectors.EventPage) -> list[int]:
    return [frame["id"] for frame in page.events]


def test_events_for_returns_the_principals_events_after_the_cursor_in_order() -> None:
    first = order_event(7)
    second = order_event(7)
    third = order_event(7)
    page = selectors.events_for(principal=BUYER, since=first, limit=10)
    assert ids(page) == [second, third]
    assert page.has_more is False
    assert page.next_cursor == third
    frame = page.events[0]
    assert frame["type"] == "event"
    assert frame["stream"] == "order:7"
    assert frame["event"] == "order.status_changed"
    assert frame["data"] == {"orderId": 7}
    assert frame["createdAt"].endswith("Z")


def test_events_for_pages_with_has_more() -> None:
    made = [order_event(7) for _ in range(5)]
    page = selectors.events_for(principal=SELLER, since=0, limit=2)
    assert ids(page) == made[:2]
    assert page.has_more is True
    assert page.next_cursor == made[1]
    page = selectors.events_for(principal=SELLER, since=page.next_cursor, limit=2)
    assert ids(page) == made[2:4]
    page = selectors.events_for(principal=SELLER, since=page.next_cursor, limit=2)
    assert ids(page) == made[4:]
    assert page.has_more is False


def test_events_for_a_stranger_sees_nothing_and_keeps_up_with_the_head() -> None:
    order_event(7)
    last = order_event(7)
    page = selectors.events_for(principal=STRANGER, since=0, limit=10)
    assert page.events == []
    assert page.next_cursor == last  # caught up: the cursor moves to the head


def test_events_for_the_anonymous_recipient_of_another_order_sees_nothing() -> None:
    mine = order_event(7)
    order_event(8, anon=OTHER_ANON_ID)
    assert ids(selectors.events_for(principal=RECIPIENT, since=0, limit=10)) == [mine]
    other = selectors.events_for(principal=OTHER_RECIPIENT, since=0, limit=10)
    assert len(other.events) == 1 and other.events[0]["stream"] == "order:8"


def test_events_for_staff_read_their_countries_queue_only() -> None:
    ar = order_event(7, country="AR")
    mx = order_event(8, country="MX")
    assert ids(selectors.events_for(principal=STAFF_AR, since=0, limit=10)) == [ar]
    assert ids(selectors.events_for(principal=STAFF_MX, since=0, limit=10)) == [mx]


def test_events_for_staff_of_two_countries_get_one_merged_ordered_page() -> None:
    both = Principal(
        kind=PrincipalKind.STAFF, id="52", level="L2", countries=frozenset({"AR", "MX"})
    )
    made = [order_event(n, country=c) for n, c in [(1, "AR"), (2, "MX"), (3, "AR"), (4, "MX")]]
    page = selectors.events_for(principal=both, since=0, limit=3)
    assert ids(page) == made[:3]
    assert page.has_more is True


def test_events_for_an_event_addressed_to_a_user_and_their_queue_comes_once() -> None:
    staff = Principal(kind=PrincipalKind.STAFF, id="1", level="L1", countries=frozenset({"AR"}))
    event_id = order_event(7)  # addressed to user:1 and staff:AR
    assert ids(selectors.events_for(principal=staff, since=0, limit=10)) == [event_id]


def test_events_for_an_event_from_before_the_principal_joined_is_not_returned() -> None:
    publish("order:7", ["user:1"], orderId=7)  # before user 3 was a party
    later = publish("order:7", ["user:1", "user:3"], orderId=7)
    joined = Principal(kind=PrincipalKind.USER, id="3")
    assert ids(selectors.events_for(principal=joined, since=0, limit=10)) == [later]


def test_events_for_one_stream_only_for_websocket_resume() -> None:
    seven = order_event(7)
    order_event(8)
    seven_again = order_event(7)
    page = selectors.events_for(principal=BUYER, since=0, limit=10, stream="order:7")
    assert ids(page) == [seven, seven_again]
    assert (
        selectors.events_for(principal=STRANGER, since=0, limit=10, stream="order:7").events == []
    )


@pytest.mark.parametrize("since", [-1, "abc", "1.5", "", " 1", True, 2**63])
def test_events_for_a_malformed_cursor_is_invalid(since: Any) -> None:
    with pytest.raises(InvalidCursor):
        selectors.events_for(principal=BUYER, since=since, limit=10)


def test_events_for_a_cursor_ahead_of_the_log_is_invalid() -> None:
    head = order_event(7)
    assert selectors.events_for(principal=BUYER, since=head, limit=10).events == []
    with pytest.raises(InvalidCursor):
        selectors.events_for(principal=BUYER, since=head + 1, limit=10)


def test_events_for_the_limit_is_clamped(settings: Any) -> None:
    settings.REALTIME_CATCHUP_MAX_LIMIT = 3
    made = [order_event(7) for _ in range(4)]
    page = selectors.events_for(principal=BUYER, since=0, limit=1000)
    assert ids(page) == made[:3] and page.has_more is True
    page = selectors.events_for(principal=BUYER, since=0, limit=0)
    assert ids(page) == made[:1]


def test_events_for_a_cursor_older_than_the_purge_is_expired(settings: Any) -> None:
    settings.REALTIME_RETENTION_SECONDS = 3600
    old = [order_event(7) for _ in range(3)]
    result = services.purge_expired(now=timezone.now() + timedelta(seconds=3601))
    assert (result.events, result.inbox_rows, result.purged_upto) == (3, 12, old[-1])
    kept = order_event(7)
    for since in (0, old[0], old[1]):
        with pytest.raises(CursorExpired):
            selectors.events_for(principal=BUYER, since=since, limit=10)
    # the cursor at the purge mark lost nothing: its page is complete
    page = selectors.events_for(principal=BUYER, since=old[-1], limit=10)
    assert ids(page) == [kept]


def test_events_for_after_everything_was_purged_the_head_stays_at_the_mark(
    settings: Any,
) -> None:
    settings.REALTIME_RETENTION_SECONDS = 3600
    last = [order_event(7) for _ in range(2)][-1]
    services.purge_expired(now=timezone.now() + timedelta(seconds=3601))
    assert selectors.current_cursor() == last
    page = selectors.events_for(principal=BUYER, since=last, limit=10)
    assert page.events == [] and page.next_cursor == last


def test_current_cursor_is_the_newest_event() -> None:
    assert selectors.current_cursor() == 0
    last = order_event(7)
    assert selectors.current_cursor() == last
