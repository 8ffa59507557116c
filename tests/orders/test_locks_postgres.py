"""Each row lock of the orders services is needed: real concurrency on PostgreSQL.

The races are made deterministic by ``tests.concurrency.race`` (a holder thread keeps the
contended row locked until every worker waits on a lock). The service calls live in the
helpers below (a rename is a one-line change here).
"""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import Event
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal
from tests.concurrency import race

from .conftest import OrderWorld

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cancel(world: OrderWorld, order: Order) -> Any:
    return services.order_cancel(actor=principal(world.buyer), order_id=order.pk, reason="x").status


def _accept(world: OrderWorld, order: Order) -> Any:
    return services.order_accept(actor=principal(world.seller), order_id=order.pk).status


def _deactivate(actor: Any, listing_id: int) -> Any:
    return services.listing_set_active(
        actor=principal(actor), listing_id=listing_id, active=False
    ).active


def test_order_transitions_racing_on_one_order_see_each_others_result(
    countries: list[str],
) -> None:
    """Buyer cancels while the seller accepts: one wins; the other sees the new state
    (INVALID_TRANSITION naming it), because the order row is locked before it is read."""
    world = OrderWorld("AR")
    order = world.order_in(OrderStatus.PAID)
    calls = [
        lambda: _cancel(world, order),
        lambda: _accept(world, order),
    ]
    results = race(calls, "SELECT 1 FROM orders_order WHERE id = %s FOR UPDATE", [order.pk])
    final = Order.objects.get(pk=order.pk).status
    assert final in (OrderStatus.CANCELLED, OrderStatus.ACCEPTED)
    assert sorted(results) == sorted([final, "INVALID_TRANSITION"]), results
    audited = Event.objects.filter(
        target_type="order",
        target_id=str(order.pk),
        action__in=["order.cancelled", "order.accepted"],
    )
    assert audited.count() == 1


def test_listing_set_active_racing_twice_is_audited_once(countries: list[str]) -> None:
    world = OrderWorld("AR")
    listing_id, l3 = world.listing.pk, world.staff["L3"]
    calls = [lambda: _deactivate(l3, listing_id) for _ in range(2)]
    results = race(calls, "SELECT 1 FROM orders_listing WHERE id = %s FOR UPDATE", [listing_id])
    assert results == [False, False]
    assert Event.objects.filter(action="listing.deactivated").count() == 1
