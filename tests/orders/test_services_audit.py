"""Orders services write exactly one attributable audit row per change, and none on refusal.

The service calls live in the small helpers below, so renames (and the typed principal) are
a one-line change per helper here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import Event
from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from aventide.orders import services
from aventide.orders.models import Listing, Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import OrderWorld, make_staff, make_user

pytestmark = pytest.mark.django_db


# --- the service calls (one place each) -----------------------------------------------------


def _as(who: Any) -> Principal:
    """The acting principal: a user as authentication resolves it; principals pass through."""
    return who if isinstance(who, Principal) else principal(who)


def _create(actor: Any, listing_id: int, email: str = "") -> services.OrderCreated:
    return services.order_create(
        actor=_as(actor), listing_id=listing_id, recipient_name="  Ana  ", recipient_email=email
    )


def _listing_create(actor: Any, price: int = 9_900) -> Listing:
    return services.listing_create(actor=_as(actor), title="  Rosas  ", price_minor=price)


def _set_active(actor: Any, listing_id: int, active: bool) -> Listing:
    return services.listing_set_active(actor=_as(actor), listing_id=listing_id, active=active)


def _refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DomainError) as exc:
        call(*args, **kwargs)
    return exc.value.code


def _events(action: str, target_type: str = "order") -> list[Event]:
    return list(Event.objects.filter(action=action, target_type=target_type).order_by("id"))


# --- order_create ---------------------------------------------------------------------------


def test_order_create_writes_one_order_created_audit_row(world: OrderWorld) -> None:
    created = _create(world.buyer, world.listing.pk)
    order = created.order
    (event,) = _events("order.created")
    assert (event.target_type, event.target_id) == ("order", str(order.pk))
    assert (event.actor_type, event.actor_id, event.actor_level) == (
        "user",
        str(world.buyer.pk),
        "buyer",
    )
    assert event.country_code == "AR"
    assert event.data == {
        "listingId": world.listing.pk,
        "amountMinor": 15_000,
        "currency": "ARS",
        "recipientKind": "anonymous",
    }
    assert order.recipient_name == "Ana"
    assert created.recipient_access is not None
    assert order.recipient_anon_id == created.recipient_access.anon_id


def test_order_create_gives_the_recipient_access_for_60_days(world: OrderWorld) -> None:
    before = timezone.now()
    access = _create(world.buyer, world.listing.pk).recipient_access
    after = timezone.now()
    assert access is not None
    assert before + timedelta(days=60) <= access.expires_at <= after + timedelta(days=60)


def test_order_create_for_a_registered_recipient_audits_recipient_kind_user(
    world: OrderWorld,
) -> None:
    friend = make_user("friend@t.test")
    created = _create(world.buyer, world.listing.pk, email="  Friend@T.test ")
    assert created.recipient_access is None
    assert created.order.recipient_user_id == friend.pk
    assert created.order.recipient_anon_id is None
    (event,) = _events("order.created")
    assert event.data["recipientKind"] == "user"


def test_order_create_for_an_unknown_email_issues_an_anonymous_identity(
    world: OrderWorld,
) -> None:
    inactive = make_user("gone@t.test", is_active=False)
    created = _create(world.buyer, world.listing.pk, email="gone@t.test")
    assert created.order.recipient_user_id is None  # an inactive account is not linked
    assert created.recipient_access is not None
    assert created.order.recipient_email == inactive.email
    (event,) = _events("order.created")
    assert event.data["recipientKind"] == "anonymous"


def _anonymous_actor() -> Principal:
    return Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(uuid.uuid4()),
        order_id=1,
        role="recipient",
        country_code="AR",
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("anonymous identity", "ACCOUNT_REQUIRED"),
        ("not logged in", "AUTH_REQUIRED"),
        ("system actor", "ACCOUNT_REQUIRED"),
        ("own listing", "CANNOT_BUY_OWN_LISTING"),
        ("inactive listing", "LISTING_UNAVAILABLE"),
        ("missing listing", "NOT_FOUND"),
        ("buyer as recipient", "RECIPIENT_INVALID"),
        ("seller as recipient", "RECIPIENT_INVALID"),
    ],
)
def test_order_create_refusals_leave_no_order_and_no_audit_row(
    world: OrderWorld, case: str, expected: str
) -> None:
    listing_id, email = world.listing.pk, ""
    actor: Any = world.buyer
    if case == "anonymous identity":
        actor = _anonymous_actor()
    elif case == "not logged in":
        # nobody has no principal: refused by authentication, before any service
        response = APIClient().post(
            "/api/orders", {"listingId": listing_id, "recipient": {"name": "Ana"}}, format="json"
        )
        assert response.status_code == 401 and response.json()["code"] == expected
        assert not Order.objects.exists()
        return
    elif case == "system actor":
        actor = SYSTEM
    elif case == "own listing":
        actor = world.seller
    elif case == "inactive listing":
        Listing.objects.filter(pk=listing_id).update(active=False)
    elif case == "missing listing":
        listing_id = 999_999
    elif case == "buyer as recipient":
        email = world.buyer.email.upper()
    else:
        email = world.seller.email
    assert _refused(_create, actor, listing_id, email) == expected
    assert not Order.objects.exists()
    assert _events("order.created") == []


# --- listings -------------------------------------------------------------------------------


def test_listing_create_writes_one_listing_created_audit_row(world: OrderWorld) -> None:
    listing = _listing_create(world.seller, 12_345)
    assert (listing.title, listing.currency, listing.country_code) == ("Rosas", "ARS", "AR")
    events = [e for e in _events("listing.created", "listing") if e.target_id == str(listing.pk)]
    (event,) = events
    assert (event.actor_type, event.actor_id, event.actor_level) == (
        "user",
        str(world.seller.pk),
        "seller",
    )
    assert event.data == {"priceMinor": 12_345, "currency": "ARS"}


@pytest.mark.parametrize("who", ["buyer", "anonymous identity", "system", "not logged in"])
def test_listing_create_refuses_anyone_but_a_seller(world: OrderWorld, who: str) -> None:
    before = Listing.objects.count()
    if who == "not logged in":  # nobody has no principal: refused by authentication
        response = APIClient().post(
            "/api/listings", {"title": "Rosas", "priceMinor": 100}, format="json"
        )
        assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"
    else:
        actors = {"buyer": world.buyer, "anonymous identity": _anonymous_actor(), "system": SYSTEM}
        assert _refused(_listing_create, actors[who]) == "SELLER_REQUIRED"
    assert Listing.objects.count() == before


def test_listing_set_active_by_scoped_l3_is_audited_once_per_change(world: OrderWorld) -> None:
    l3, listing_id = world.staff["L3"], world.listing.pk
    assert _set_active(l3, listing_id, False).active is False
    assert _set_active(l3, listing_id, False).active is False  # idempotent: no second row
    assert Listing.objects.get(pk=listing_id).active is False
    (off,) = _events("listing.deactivated", "listing")
    assert (off.actor_id, off.actor_level, off.target_id) == (str(l3.pk), "L3", str(listing_id))
    assert _set_active(l3, listing_id, True).active is True
    (on,) = _events("listing.reactivated", "listing")
    assert on.actor_level == "L3"
    assert Listing.objects.get(pk=listing_id).active is True


def test_listing_set_active_refuses_lower_levels_other_countries_and_unknown_ids(
    world: OrderWorld,
) -> None:
    listing_id = world.listing.pk
    assert _refused(_set_active, world.staff["L2"], listing_id, False) == "STAFF_LEVEL_REQUIRED"
    mx_l3 = make_staff("L3", ["MX"], "l3.mx.listing@t.test")
    assert _refused(_set_active, mx_l3, listing_id, False) == "SCOPE_VIOLATION"
    assert _refused(_set_active, world.staff["L3"], 999_999, False) == "NOT_FOUND"
    assert Listing.objects.get(pk=listing_id).active is True
    assert _events("listing.deactivated", "listing") == []
    (violation,) = Event.objects.filter(action="scope.violation")
    assert (violation.target_type, violation.target_id) == ("listing", str(listing_id))


# --- transitions ----------------------------------------------------------------------------


def test_order_transitions_audit_from_to_and_the_acting_party(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    world.accept(order)
    (paid,) = _events("order.paid")
    assert paid.data == {"from": "pending_payment", "to": "paid", "paymentReference": "psp-1"}
    (accepted,) = _events("order.accepted")
    assert accepted.data == {"from": "paid", "to": "accepted"}
    assert (accepted.actor_id, accepted.actor_level) == (str(world.seller.pk), "seller")


def test_order_cancel_audits_the_trimmed_reason_once(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    services.order_cancel(actor=_as(world.buyer), order_id=order.pk, reason="  " + "x" * 300)
    (cancelled,) = _events("order.cancelled")
    assert cancelled.data == {"from": "paid", "to": "cancelled", "reason": "x" * 200}
    assert (cancelled.actor_id, cancelled.actor_level) == (str(world.buyer.pk), "buyer")


@pytest.mark.parametrize("who", ["buyer", "staff L3"])
def test_order_transition_of_an_unknown_order_is_not_found(world: OrderWorld, who: str) -> None:
    actor = world.buyer if who == "buyer" else world.staff["L3"]
    assert _refused(services.order_cancel, actor=_as(actor), order_id=999_999, reason="x") == (
        "NOT_FOUND"
    )
    assert not Event.objects.filter(action="scope.violation").exists()  # not a scope matter
