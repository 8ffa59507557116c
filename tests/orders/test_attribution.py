"""Who the audit trail says did it: one L0 system actor for automation, and nested money
rows attributed like the order transition that caused them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Event
from aventide.core import context
from aventide.core.principal import SYSTEM
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal
from tests.orders.conftest import OrderWorld

pytestmark = pytest.mark.django_db


def _rows_since(first_id: int) -> list[Event]:
    return list(Event.objects.filter(id__gt=first_id).order_by("id"))


def _last_id() -> int:
    last = Event.objects.order_by("-id").first()
    return last.pk if last else 0


def test_every_audit_row_of_an_automatic_step_carries_the_one_l0_system_actor(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=30))
    unpaid = world.new_order()
    start = _last_id()
    services.order_mark_paid(actor=SYSTEM, order_id=unpaid.pk, payment_reference="psp-7")
    assert services.orders_complete_due() == 1
    rows = _rows_since(start)
    assert {row.action for row in rows} == {
        "order.paid",
        "order.completed",
        "ledger.transaction_posted",
    }
    assert len(rows) == 4  # paid + capture, completed + release
    for row in rows:
        assert (row.actor_type, row.actor_id, row.actor_level) == ("system", "system", "L0")


def test_a_nested_ledger_posting_carries_the_actor_and_request_id_of_its_transition(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.PAID)
    start = _last_id()
    with context.bound_context(request_id="req-cancel-42"):
        services.order_cancel(actor=principal(world.seller), order_id=order.pk, reason="stock")
    cancelled, posted = (
        Event.objects.get(id__gt=start, action="order.cancelled"),
        Event.objects.get(id__gt=start, action="ledger.transaction_posted"),
    )
    for row in (cancelled, posted):
        assert (row.actor_type, row.actor_id, row.actor_level) == (
            "user",
            str(world.seller.pk),
            "seller",
        )
        assert row.request_id == "req-cancel-42"
        assert (row.target_type, row.target_id, row.country_code) == ("order", str(order.pk), "AR")
    assert posted.data["reason"] == "refund"
