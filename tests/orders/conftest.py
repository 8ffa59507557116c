"""Order fixtures: parties, staff, and orders brought to a state through the services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.core.principal import SYSTEM, Principal
from aventide.orders import services
from aventide.orders.models import Listing, Order, OrderStatus, Role
from tests.accounts.factories import anonymous_principal, principal

PASSWORD = "Corr3ct-Horse-Battery"


def make_user(email: str, country: str = "AR", **extra: Any) -> User:
    return User.objects.create_user(email=email, password=PASSWORD, country_code=country, **extra)


def make_staff(level: str, countries: list[str], email: str | None = None) -> User:
    """A staff member made through the accounts services (profile, group, scopes)."""
    user = make_user(
        email or f"staff.{level.lower()}.{'-'.join(countries) or 'none'}@t.test",
        country=(countries or ["AR"])[0],
        is_staff=True,
    )
    profile = accounts.staff_profile_set(actor=SYSTEM, user=user, level=level)
    for code in countries:
        accounts.staff_scope_grant(actor=SYSTEM, staff=profile, country_code=code)
    return user


class OrderWorld:
    """A seller with a listing, a buyer, and helpers to reach any order state via services."""

    def __init__(self, country: str = "AR") -> None:
        self.country = country
        suffix = country.lower()
        self.seller = make_user(f"seller.{suffix}@t.test", country, is_seller=True)
        self.buyer = make_user(f"buyer.{suffix}@t.test", country)
        self.listing = services.listing_create(
            actor=principal(self.seller), title="Flores", price_minor=15_000
        )
        self.staff = {
            level: make_staff(level, [country], f"staff.{level.lower()}.{suffix}@t.test")
            for level in ("L1", "L2", "L3")
        }
        self._recipients: dict[int, Principal] = {}

    def new_order(self) -> Order:
        created = services.order_create(
            actor=principal(self.buyer), listing_id=self.listing.pk, recipient_name="Ana"
        )
        access = created.recipient_access
        assert access is not None
        self._recipients[created.order.pk] = anonymous_principal(access.anon_id)
        return created.order

    def recipient(self, order: Order) -> Principal:
        return self._recipients[order.pk]

    def p(self, user: User) -> Principal:
        """The principal of one of this world's users."""
        return principal(user)

    def actor(self, role: str, order: Order) -> Any:
        """The principal acting in ``role`` on ``order``."""
        actors: dict[str, Any] = {
            Role.BUYER: lambda: principal(self.buyer),
            Role.SELLER: lambda: principal(self.seller),
            Role.RECIPIENT: lambda: self._recipients.get(order.pk),
            Role.SYSTEM: lambda: SYSTEM,
            Role.STAFF_L1: lambda: principal(self.staff["L1"]),
            Role.STAFF_L2: lambda: principal(self.staff["L2"]),
            Role.STAFF_L3: lambda: principal(self.staff["L3"]),
        }
        return actors[role]()

    def order_in(self, state: str) -> Order:
        """An order brought to `state` by the same services production uses."""
        order = self.new_order()
        path: dict[str, list[Callable[[Order], Any]]] = {
            OrderStatus.PENDING_PAYMENT: [],
            OrderStatus.PAID: [self.pay],
            OrderStatus.ACCEPTED: [self.pay, self.accept],
            OrderStatus.IN_TRANSIT: [self.pay, self.accept, self.dispatch],
            OrderStatus.DELIVERED: [self.pay, self.accept, self.dispatch, self.deliver],
            OrderStatus.COMPLETED: [
                self.pay,
                self.accept,
                self.dispatch,
                self.deliver,
                self.complete,
            ],
            OrderStatus.CANCELLED: [self.cancel],
            OrderStatus.FORCE_COMPLETED: [self.pay, self.accept, self.dispatch, self.force],
        }
        for step in path[state]:
            step(order)
        order.refresh_from_db()
        assert order.status == state
        return order

    def pay(self, order: Order) -> Order:
        return services.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference="psp-1")

    def accept(self, order: Order) -> Order:
        return services.order_accept(actor=principal(self.seller), order_id=order.pk)

    def dispatch(self, order: Order) -> Order:
        return services.order_dispatch(actor=principal(self.seller), order_id=order.pk)

    def deliver(self, order: Order) -> Order:
        return services.order_confirm_delivery(actor=self.recipient(order), order_id=order.pk)

    def complete(self, order: Order) -> Order:
        return services.order_complete(actor=SYSTEM, order_id=order.pk)

    def cancel(self, order: Order) -> Order:
        return services.order_cancel(
            actor=principal(self.buyer), order_id=order.pk, reason="changed mind"
        )

    def force(self, order: Order) -> Order:
        return services.order_force_complete(
            actor=principal(self.staff["L3"]),
            order_id=order.pk,
            reason_code="courier_confirmed_offline",
            evidence_refs=["courier-ticket-77"],
        )


@pytest.fixture
def world(countries: list[str]) -> OrderWorld:
    return OrderWorld("AR")


@pytest.fixture
def listing(world: OrderWorld) -> Listing:
    return world.listing
