"""The order state machine itself: protected status, the map pinned to the issue's rules."""

from __future__ import annotations

import pytest

from aventide.orders import selectors, services
from aventide.orders.errors import OrderStateConflict
from aventide.orders.models import TRANSITIONS, Order, OrderStatus, Role
from tests.accounts.factories import principal

from .conftest import OrderWorld

S = OrderStatus


def test_transition_map_matches_the_product_rules() -> None:
    """Hand-written from the issue, so a wrong map entry cannot pass the generated matrix."""
    path = [
        (n, TRANSITIONS[n].sources, TRANSITIONS[n].target)
        for n in ("mark_paid", "accept", "dispatch", "confirm_delivery", "complete")
    ]
    assert path == [
        ("mark_paid", (S.PENDING_PAYMENT,), S.PAID),
        ("accept", (S.PAID,), S.ACCEPTED),
        ("dispatch", (S.ACCEPTED,), S.IN_TRANSIT),
        ("confirm_delivery", (S.IN_TRANSIT,), S.DELIVERED),
        ("complete", (S.DELIVERED,), S.COMPLETED),
    ]
    assert TRANSITIONS["cancel"].target == S.CANCELLED
    assert set(TRANSITIONS["cancel"].sources) == {S.PENDING_PAYMENT, S.PAID, S.ACCEPTED}
    assert TRANSITIONS["force_complete"].roles == {Role.STAFF_L3}
    assert set(TRANSITIONS["force_complete"].sources) == {S.IN_TRANSIT, S.DELIVERED}
    assert TRANSITIONS["accept"].roles == TRANSITIONS["dispatch"].roles == {Role.SELLER}
    # the recipient confirms, or the system on the courier's "delivered" webhook
    assert TRANSITIONS["confirm_delivery"].roles == {Role.RECIPIENT, Role.SYSTEM}
    assert TRANSITIONS["mark_paid"].roles == TRANSITIONS["complete"].roles == {Role.SYSTEM}
    assert Role.STAFF_L1 not in TRANSITIONS["cancel"].roles
    closed = {S.COMPLETED, S.CANCELLED, S.FORCE_COMPLETED}
    assert not any(closed & set(spec.sources) for spec in TRANSITIONS.values())


@pytest.mark.django_db
def test_status_cannot_be_assigned_directly(world: OrderWorld) -> None:
    order = world.new_order()
    with pytest.raises(AttributeError):
        order.status = OrderStatus.COMPLETED


@pytest.mark.django_db
def test_order_transition_on_a_stale_row_is_a_state_conflict(
    world: OrderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the row changed after it was read (no lock on this path), the save refuses: 409."""
    order = world.order_in(OrderStatus.PAID)
    real_role_of = selectors.role_of

    def role_then_someone_else_cancels(actor, locked_order):
        Order.objects.filter(pk=locked_order.pk).update(status=OrderStatus.CANCELLED)
        return real_role_of(actor, locked_order)

    monkeypatch.setattr(services, "role_of", role_then_someone_else_cancels)
    with pytest.raises(OrderStateConflict) as exc:
        services.order_accept(actor=principal(world.seller), order_id=order.pk)
    assert (exc.value.code, exc.value.status) == ("ORDER_STATE_CONFLICT", 409)
    # the simulated writer shared our transaction, so both rolled back: nothing was accepted
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    from audit.selectors import events_for_target

    assert "order.accepted" not in [e.action for e in events_for_target("order", str(order.pk))]


@pytest.mark.django_db
def test_transition_hooks_run_inside_the_transition(world: OrderWorld) -> None:
    calls: list[tuple[int, str, str]] = []

    def hook(order: Order, name: str, from_state: str) -> None:
        calls.append((order.pk, name, from_state))

    services.register_transition_hook(hook)
    try:
        order = world.order_in(OrderStatus.PAID)
    finally:
        services._TRANSITION_HOOKS.remove(hook)
    assert calls == [(order.pk, "create", ""), (order.pk, "mark_paid", S.PENDING_PAYMENT)]
