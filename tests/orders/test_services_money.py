"""Order transitions move the money: capture on payment, release on completion, refund on cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from aventide.core.principal import SYSTEM
from aventide.ledger import selectors as ledger
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import OrderWorld

pytestmark = pytest.mark.django_db


def test_order_create_takes_amount_and_currency_from_the_listing(world: OrderWorld) -> None:
    order = world.new_order()
    assert (order.amount_minor, order.currency, order.country_code) == (15_000, "ARS", "AR")
    assert order.recipient_anon_id is not None
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_order_create_links_a_recipient_with_an_account(world: OrderWorld) -> None:
    from .conftest import make_user

    friend = make_user("Friend@T.test")
    created = services.order_create(
        actor=principal(world.buyer),
        listing_id=world.listing.pk,
        recipient_name="F",
        recipient_email="friend@t.test",
    )
    assert created.order.recipient_user_id == friend.pk
    assert created.recipient_access is None


def test_order_mark_paid_captures_into_escrow(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    money = ledger.order_money(order.pk)
    assert (money.captured, money.escrow) == (15_000, 15_000)


def test_order_complete_releases_seller_and_fee(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.COMPLETED)
    assert ledger.order_money(order.pk).escrow == 0
    assert ledger.balance_of(f"seller_payable:{world.seller.pk}", "ARS") == 13_500
    assert ledger.balance_of("platform_fee", "ARS") == 1_500


def test_order_force_complete_releases_too(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.FORCE_COMPLETED)
    assert ledger.order_money(order.pk).released == 15_000


def test_order_cancel_after_payment_refunds_the_buyer(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    services.order_cancel(actor=principal(world.seller), order_id=order.pk, reason="out of stock")
    money = ledger.order_money(order.pk)
    assert (money.refunded, money.escrow) == (15_000, 0)
    assert ledger.balance_of(f"buyer_refund:{world.buyer.pk}", "ARS") == 15_000


def test_orders_complete_due_respects_each_country_window(world: OrderWorld) -> None:
    due = world.order_in(OrderStatus.DELIVERED)
    fresh = world.order_in(OrderStatus.DELIVERED)
    Order.objects.filter(pk=due.pk).update(delivered_at=timezone.now() - timedelta(hours=73))
    Order.objects.filter(pk=fresh.pk).update(delivered_at=timezone.now() - timedelta(hours=71))
    assert services.orders_complete_due() == 1
    assert Order.objects.get(pk=due.pk).status == OrderStatus.COMPLETED
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.DELIVERED
    assert ledger.order_money(due.pk).released == 15_000
    assert services.orders_complete_due() == 0  # safe to run twice


def test_orders_complete_due_uses_the_country_setting(countries: list[str]) -> None:
    from .conftest import OrderWorld as World

    br = World("BR")  # Brazil: 96 h window
    order = br.order_in(OrderStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(hours=80))
    assert services.orders_complete_due() == 0
    assert services.orders_complete_due(now=timezone.now() + timedelta(hours=17)) == 1


def test_complete_due_task_runs_the_service(world: OrderWorld) -> None:
    from aventide.orders.tasks import complete_due_orders

    order = world.order_in(OrderStatus.DELIVERED)
    Order.objects.filter(pk=order.pk).update(delivered_at=timezone.now() - timedelta(days=4))
    assert complete_due_orders.delay().get() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED


def test_orders_complete_due_skips_an_order_that_cannot_complete(world: OrderWorld) -> None:
    from aventide.core import metrics
    from aventide.ledger import services as ledger_services

    broken = world.order_in(OrderStatus.DELIVERED)
    fine = world.order_in(OrderStatus.DELIVERED)
    # a support refund emptied the first order's escrow: its release cannot happen
    ledger_services.escrow_refund(
        actor=SYSTEM, order_id=broken.pk, amount_minor=15_000, idempotency_key="support-1"
    )
    old = timezone.now() - timedelta(days=4)
    Order.objects.filter(pk__in=[broken.pk, fine.pk]).update(delivered_at=old)
    before = metrics.count_of(
        "METRIC_ORDER_COMPLETION_FAILED", code="ESCROW_INSUFFICIENT", country="AR"
    )
    assert services.orders_complete_due() == 1
    assert Order.objects.get(pk=fine.pk).status == OrderStatus.COMPLETED
    assert Order.objects.get(pk=broken.pk).status == OrderStatus.DELIVERED
    after = metrics.count_of(
        "METRIC_ORDER_COMPLETION_FAILED", code="ESCROW_INSUFFICIENT", country="AR"
    )
    assert after == before + 1


def test_orders_complete_due_goes_on_past_a_deactivated_country(countries: list[str]) -> None:
    from aventide.markets.models import Country

    from .conftest import OrderWorld as World

    ar, mx = World("AR"), World("MX")
    a, m = ar.order_in(OrderStatus.DELIVERED), mx.order_in(OrderStatus.DELIVERED)
    Order.objects.filter(pk__in=[a.pk, m.pk]).update(
        delivered_at=timezone.now() - timedelta(days=5)
    )
    Country.objects.filter(code="AR").update(active=False)
    assert services.orders_complete_due() == 1
    assert Order.objects.get(pk=m.pk).status == OrderStatus.COMPLETED


@pytest.mark.parametrize("who", ["buyer", "seller"])
def test_order_create_refuses_a_party_as_recipient(world: OrderWorld, who: str) -> None:
    from aventide.orders.errors import RecipientInvalid

    email = getattr(world, who).email.upper()
    with pytest.raises(RecipientInvalid) as exc:
        services.order_create(
            actor=principal(world.buyer),
            listing_id=world.listing.pk,
            recipient_name="Me",
            recipient_email=email,
        )
    assert exc.value.code == "RECIPIENT_INVALID"
