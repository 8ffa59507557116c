"""order_recipient_link_reissue: a lost or leaked gift link is replaced (staff L2+ in scope)."""

from __future__ import annotations

import pytest

from audit.models import Event
from aventide.accounts import selectors as accounts_selectors
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.orders import services
from aventide.orders.errors import OrderActionForbidden
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import OrderWorld, make_staff

pytestmark = pytest.mark.django_db


def test_order_recipient_link_reissue_replaces_and_revokes_the_old_link(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    old = order.recipient_anon_id
    assert old is not None
    issued = services.order_recipient_link_reissue(
        actor=principal(world.staff["L2"]), order_id=order.pk, reason="lost the email"
    )
    order = Order.objects.get(pk=order.pk)
    assert order.recipient_anon_id == issued.anon_id != old
    assert accounts_selectors.anonymous_principal_get(anon_id=old) is None  # revoked
    fresh = accounts_selectors.anonymous_principal_get(anon_id=issued.anon_id)
    assert fresh is not None and fresh.order_id == order.pk
    event = Event.objects.get(action="order.recipient_link_reissued")
    assert (event.actor_id, event.actor_level) == (str(world.staff["L2"].pk), "L2")
    assert event.data == {"reason": "lost the email", "previousRevoked": True}
    assert Event.objects.filter(action="anonymous_identity.revoked").count() == 1


def test_order_recipient_link_reissue_refuses_l1_other_countries_and_closed_orders(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.PAID)
    with pytest.raises(StaffLevelRequired):
        services.order_recipient_link_reissue(actor=principal(world.staff["L1"]), order_id=order.pk)
    with pytest.raises(ScopeViolation):
        services.order_recipient_link_reissue(
            actor=principal(make_staff("L3", ["MX"], "l3.mx.link@t.test")), order_id=order.pk
        )
    assert Event.objects.filter(action="scope.violation").count() == 1
    closed = world.order_in(OrderStatus.CANCELLED)
    with pytest.raises(OrderActionForbidden):
        services.order_recipient_link_reissue(
            actor=principal(world.staff["L3"]), order_id=closed.pk
        )
    assert not Event.objects.filter(action="order.recipient_link_reissued").exists()


def test_order_recipient_link_reissue_keeps_200_characters_of_a_long_reason(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.PAID)
    old = order.recipient_anon_id
    reason = "r" * 199 + "ñ" + "x" * 100  # the 200th character kept, the rest cut
    services.order_recipient_link_reissue(
        actor=principal(world.staff["L2"]), order_id=order.pk, reason=reason
    )
    event = Event.objects.get(action="order.recipient_link_reissued")
    assert event.data["reason"] == reason[:200]
    revoked = Event.objects.get(action="anonymous_identity.revoked")
    assert revoked.target_id == str(old)
    assert revoked.data["reason"] == reason[:200]


def test_order_recipient_link_reissue_answers_not_found_to_parties_and_unknown_orders(
    world: OrderWorld,
) -> None:
    """Buyers, sellers and recipients cannot re-issue (nor learn that the order exists)."""
    from aventide.orders.errors import OrderNotFound

    order = world.order_in(OrderStatus.PAID)
    for who in (world.buyer, world.seller):
        with pytest.raises(OrderNotFound):
            services.order_recipient_link_reissue(actor=principal(who), order_id=order.pk)
    with pytest.raises(OrderNotFound):
        services.order_recipient_link_reissue(
            actor=principal(world.staff["L3"]), order_id=order.pk + 10_000
        )
    assert Order.objects.get(pk=order.pk).recipient_anon_id == order.recipient_anon_id
    assert not Event.objects.filter(action="order.recipient_link_reissued").exists()
