"""Orders publish their status changes to the order's parties and the country's staff queue
(``aventide/orders/stream_events.py``), inside the transition's transaction."""

from __future__ import annotations

import pytest

from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from aventide.orders import services
from aventide.orders.errors import InvalidTransition
from aventide.orders.models import OrderStatus
from realtime import selectors
from realtime.models import Event, InboxEntry
from tests.accounts.factories import principal
from tests.orders.conftest import OrderWorld, make_user

pytestmark = pytest.mark.django_db


def audience_of(event_id: int) -> set[str]:
    return set(InboxEntry.objects.filter(event_id=event_id).values_list("audience_key", flat=True))


def test_order_create_publishes_to_the_parties_only(world: OrderWorld) -> None:
    order = world.new_order()
    event = Event.objects.get(stream=f"order:{order.pk}")
    assert event.type == "order.created"
    assert event.payload == {"orderId": order.pk, "status": "pending_payment"}
    assert audience_of(event.pk) == {
        f"user:{world.buyer.pk}",
        f"user:{world.seller.pk}",
        f"anon:{order.recipient_anon_id}",
    }


def test_order_transitions_publish_the_status_change_to_parties_and_staff_queue(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    changes = list(
        Event.objects.filter(stream=f"order:{order.pk}", type="order.status_changed")
        .order_by("id")
        .values_list("id", "payload")
    )
    assert [p for _, p in changes] == [
        {"orderId": order.pk, "status": "paid", "from": "pending_payment"},
        {"orderId": order.pk, "status": "accepted", "from": "paid"},
        {"orderId": order.pk, "status": "in_transit", "from": "accepted"},
    ]
    for event_id, _ in changes:
        assert audience_of(event_id) == {
            f"user:{world.buyer.pk}",
            f"user:{world.seller.pk}",
            f"anon:{order.recipient_anon_id}",
            "staff:AR",
        }
    assert set(Event.objects.values_list("country_code", flat=True)) == {"AR"}


def test_order_cancel_publishes_and_the_recipient_can_catch_up(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    world.cancel(order)
    page = selectors.events_for(principal=world.recipient(order), since=0, limit=50)
    assert [(f["event"], f["data"]["status"]) for f in page.events] == [
        ("order.created", "pending_payment"),
        ("order.status_changed", "paid"),
        ("order.status_changed", "cancelled"),
    ]
    assert "Ana" not in str(page.events)  # the recipient's name is not in any payload


def test_order_with_a_registered_recipient_publishes_to_their_account(
    world: OrderWorld,
) -> None:
    recipient = make_user("rita@t.test")
    created = services.order_create(
        actor=principal(world.buyer),
        listing_id=world.listing.pk,
        recipient_name="Rita",
        recipient_email="rita@t.test",
    )
    order = services.order_mark_paid(
        actor=SYSTEM, order_id=created.order.pk, payment_reference="psp-2"
    )
    event = Event.objects.filter(stream=f"order:{order.pk}").latest("id")
    assert f"user:{recipient.pk}" in audience_of(event.pk)
    assert not any(k.startswith("anon:") for k in audience_of(event.pk))
    assert "rita@t.test" not in str(Event.objects.values_list("payload", flat=True))


def test_order_transition_refused_publishes_nothing(world: OrderWorld) -> None:
    order = world.new_order()
    before = Event.objects.count()
    with pytest.raises(InvalidTransition):
        services.order_accept(actor=principal(world.seller), order_id=order.pk)
    assert Event.objects.count() == before


def test_order_staff_of_another_country_see_nothing_of_it(world: OrderWorld) -> None:
    world.order_in(OrderStatus.PAID)
    mx = Principal(kind=PrincipalKind.STAFF, id="9999", level="L1", countries=frozenset({"MX"}))
    ar = principal(world.staff["L1"])
    assert selectors.events_for(principal=mx, since=0, limit=50).events == []
    assert [
        f["data"]["status"] for f in selectors.events_for(principal=ar, since=0, limit=50).events
    ] == ["paid"]
