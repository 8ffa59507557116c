"""Demo listings and orders per country, in several states, made through the services.

Each country gets one listing of ``seller.xx@`` and one order of ``buyer.xx@`` per *slot*: one
per order state with a recipient who has no account (an anonymous identity), plus one in
transit for the registered recipient ``recipient.xx@``. A slot is found again by its listing
and recipient name, so re-running creates nothing new (an order a developer moved on by hand
keeps its new state; the report shows it).

Every run reports every demo order (`DemoOrder`: id, current state, recipient) and, for
recipients without an account, the ``X-Anonymous-Id`` / ``X-Anonymous-Signature`` headers:
the signature is recomputed with the current ANON key (the same value while the key does not
change). A link that cannot work any more -- revoked (e.g. by staff trying the revoke action)
or expired -- is re-issued: a new identity is bound to the order and the old one is revoked
(audited ``anonymous_identity.issued`` / ``anonymous_identity.revoked``, reason
``demo link re-issued``). Development only: production never runs this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from aventide.accounts import selectors as accounts_selectors
from aventide.accounts import services as accounts
from aventide.accounts.contracts import principal_for_user
from aventide.core.principal import SYSTEM, Principal
from aventide.orders import services
from aventide.orders.models import Listing, Order, OrderStatus

DEMO_TITLES = {
    "AR": "Demo: ramo de flores",
    "MX": "Demo: caja de chocolates",
    "BR": "Demo: cesta de cafe",
}
DEMO_PRICES = {"AR": 2_500_000, "MX": 65_000, "BR": 18_900}
PAYMENTS = SYSTEM
REISSUE_REASON = "demo link re-issued"


@dataclass(frozen=True)
class DemoSlot:
    recipient_name: str  # finds the slot's order again on the next run
    target: str  # the state the seed brings a new order to
    registered_recipient: bool = False


SLOTS: tuple[DemoSlot, ...] = (
    *(
        DemoSlot(f"Demo recipient {state}", state)
        for state in (
            OrderStatus.PENDING_PAYMENT,
            OrderStatus.PAID,
            OrderStatus.ACCEPTED,
            OrderStatus.IN_TRANSIT,
            OrderStatus.DELIVERED,
            OrderStatus.COMPLETED,
            OrderStatus.CANCELLED,
        )
    ),
    DemoSlot("Demo registered recipient in_transit", OrderStatus.IN_TRANSIT, True),
)


@dataclass(frozen=True)
class DemoOrder:
    country_code: str
    order_id: int
    status: str
    recipient_email: str  # the registered recipient's account, "" for an anonymous one
    anon_id: uuid.UUID | None = None
    signature: str = ""
    reissued: bool = False

    @property
    def anonymous_headers(self) -> dict[str, str]:
        if self.anon_id is None:
            return {}
        return {"X-Anonymous-Id": str(self.anon_id), "X-Anonymous-Signature": self.signature}


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


def _create(
    slot: DemoSlot,
    *,
    listing: Listing,
    buyer: Principal,
    seller: Principal,
    recipient_user: Principal,
) -> Order:
    created = services.order_create(
        actor=buyer,
        listing_id=listing.pk,
        recipient_name=slot.recipient_name,
        recipient_email=recipient_user.email if slot.registered_recipient else "",
    )
    order = created.order
    access = created.recipient_access

    def recipient(o: Order) -> Any:
        if access is None:
            return recipient_user
        return accounts_selectors.anonymous_principal_get(anon_id=access.anon_id)

    for step in _steps(seller, recipient)[slot.target]:
        step(order)
    order.refresh_from_db()
    return order


def _reissue_link(order: Order) -> uuid.UUID:
    """Bind a fresh anonymous identity to the order (the old one is revoked): the same service
    support uses to re-send a gift link."""
    access = services.order_recipient_link_reissue(
        actor=SYSTEM, order_id=order.pk, reason=REISSUE_REASON
    )
    order.recipient_anon_id = access.anon_id
    return access.anon_id


def _report(order: Order) -> DemoOrder:
    if order.recipient_user_id is not None:
        email = get_user_model().objects.get(pk=order.recipient_user_id).email
        return DemoOrder(order.country_code, order.pk, order.status, recipient_email=email)
    identity = (
        accounts_selectors.anonymous_identity_get(anon_id=order.recipient_anon_id)
        if order.recipient_anon_id is not None
        else None
    )
    usable = (
        identity is not None
        and identity.revoked_at is None
        and identity.expires_at > timezone.now()
        and identity.order_id == order.pk
    )
    anon_id = order.recipient_anon_id if usable else _reissue_link(order)
    assert anon_id is not None
    return DemoOrder(
        order.country_code,
        order.pk,
        order.status,
        recipient_email="",
        anon_id=anon_id,
        signature=accounts.sign_anonymous_id(anon_id),
        reissued=not usable,
    )


@transaction.atomic
def seed_orders(*, party_email: Callable[[str, str], str]) -> list[DemoOrder]:
    """Create what is missing (a listing per country, an order per slot) and report every demo
    order. Idempotent: a second run creates and audits nothing while the links still work.
    ``party_email(role, country)`` names the demo parties (accounts' demo owns them)."""
    users = get_user_model().objects
    report: list[DemoOrder] = []
    for country, title in DEMO_TITLES.items():
        seller = principal_for_user(users.get(email=party_email("seller", country)))
        buyer = principal_for_user(users.get(email=party_email("buyer", country)))
        recipient_user = principal_for_user(users.get(email=party_email("recipient", country)))
        listing = (
            Listing.objects.filter(seller_id=seller.user_id, title=title).order_by("pk").first()
        )
        if listing is None:
            listing = services.listing_create(
                actor=seller, title=title, price_minor=DEMO_PRICES[country]
            )
        for slot in SLOTS:
            order = (
                Order.objects.filter(listing=listing, recipient_name=slot.recipient_name)
                .order_by("pk")
                .first()
            )
            if order is None:
                order = _create(
                    slot, listing=listing, buyer=buyer, seller=seller, recipient_user=recipient_user
                )
            report.append(_report(order))
    return report
