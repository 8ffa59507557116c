"""Demo listings and orders per country, in several states, made through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from aventide.accounts import services as accounts
from aventide.accounts.contracts import AnonymousActor
from aventide.core.context import Actor
from aventide.orders import services
from aventide.orders.models import Listing, Order, OrderStatus

DEMO_TITLES = {
    "AR": "Demo: ramo de flores",
    "MX": "Demo: caja de chocolates",
    "BR": "Demo: cesta de cafe",
}
DEMO_PRICES = {"AR": 2_500_000, "MX": 65_000, "BR": 18_900}
PAYMENTS = Actor(type="system", id="demo-payments", level="L0")


def _steps(
    seller: Any, recipient: Callable[[Order], Any]
) -> dict[str, list[Callable[[Order], Any]]]:
    def pay(o: Order) -> Any:
        return services.order_mark_paid(
            actor=PAYMENTS, order_id=o.pk, payment_reference=f"demo-{o.pk}"
        )

    def accept(o: Order) -> Any:
        return services.order_accept(actor=seller, order_id=o.pk)

    def dispatch(o: Order) -> Any:
        return services.order_dispatch(actor=seller, order_id=o.pk)

    def deliver(o: Order) -> Any:
        return services.order_confirm_delivery(actor=recipient(o), order_id=o.pk)

    def complete(o: Order) -> Any:
        return services.order_complete(actor=PAYMENTS, order_id=o.pk)

    def cancel(o: Order) -> Any:
        return services.order_cancel(actor=seller, order_id=o.pk, reason="demo")

    return {
        OrderStatus.PENDING_PAYMENT: [],
        OrderStatus.PAID: [pay],
        OrderStatus.ACCEPTED: [pay, accept],
        OrderStatus.IN_TRANSIT: [pay, accept, dispatch],
        OrderStatus.DELIVERED: [pay, accept, dispatch, deliver],
        OrderStatus.COMPLETED: [pay, accept, dispatch, deliver, complete],
        OrderStatus.CANCELLED: [pay, cancel],
    }


@transaction.atomic
def seed_orders(write: Callable[[str], None]) -> None:
    """One listing and one order per state in each demo country. Idempotent."""
    users = get_user_model().objects
    for country, title in DEMO_TITLES.items():
        seller = users.get(email=f"seller.{country.lower()}@demo.aventide.test")
        buyer = users.get(email=f"buyer.{country.lower()}@demo.aventide.test")
        if Listing.objects.filter(seller=seller, title=title).exists():
            continue
        listing = services.listing_create(
            actor=seller, title=title, price_minor=DEMO_PRICES[country]
        )
        anon: dict[int, Any] = {}

        def recipient(order: Order, anon: dict[int, Any] = anon) -> Any:
            return anon[order.pk]

        for state, steps in _steps(seller, recipient).items():
            created = services.order_create(
                actor=buyer, listing_id=listing.pk, recipient_name=f"Demo recipient {state}"
            )
            access = created.recipient_access
            assert access is not None
            anon[created.order.pk] = AnonymousActor(
                anon_id=access.anon_id,
                order_id=created.order.pk,
                role="recipient",
                country_code=country,
            )
            for step in steps:
                step(created.order)
            if state == OrderStatus.IN_TRANSIT:
                write(
                    f"  {country} order {created.order.pk} (in transit) recipient headers: "
                    f"X-Anonymous-Id: {access.anon_id}  "
                    f"X-Anonymous-Signature: {accounts.sign_anonymous_id(access.anon_id)}"
                )
    write(f"orders: {Order.objects.count()} in total")
