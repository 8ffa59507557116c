"""Scoped reads of listings and orders: the API, the admin and realtime share these.

Who sees an order: its parties (buyer, seller, the recipient -- a user, or the order's one
anonymous identity) and staff whose ScopeGuard scope includes its country; anyone else gets
``NOT_FOUND``, exactly as for an order that does not exist. Staff reads and staff writes use
the same rule (``order_for`` / the services' ScopeGuard check).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from aventide.accounts.contracts import ScopeGuard
from aventide.core.principal import Principal
from aventide.orders.errors import OrderNotFound
from aventide.orders.models import TRANSITIONS, Listing, Order, OrderStatus, PaymentStatus, Role
from aventide.orders.notifications import language_for as _invitation_language
from aventide.orders.notifications import recipient_link

_STAFF_ROLES = {Role.STAFF_L1, Role.STAFF_L2, Role.STAFF_L3}


def listings_public(*, country_code: str | None = None) -> QuerySet[Listing]:
    qs = Listing.objects.filter(active=True)
    if country_code:
        qs = qs.filter(country_code=country_code)
    return qs


def role_of(actor: Principal, order: Order) -> str | None:
    """The principal's role on this order, or None when it has none (then it must not see it).

    Staff get their level (L1..L3); whether the order is in their scope is ScopeGuard's call.
    Pure: no query.
    """
    if actor.is_system:
        return Role.SYSTEM
    if actor.is_anonymous_identity:
        same_order = actor.order_id == order.pk and order.recipient_anon_id == actor.anon_id
        return Role.RECIPIENT if same_order and actor.role == "recipient" else None
    user_id = actor.user_id
    if user_id is None:
        return None
    if user_id == order.buyer_id:
        return Role.BUYER
    if user_id == order.seller_id:
        return Role.SELLER
    if order.recipient_user_id is not None and user_id == order.recipient_user_id:
        return Role.RECIPIENT
    if actor.is_staff and actor.level in _STAFF_ROLES:
        return actor.level
    return None


def _party_filter(actor: Principal) -> Q:
    user_id = actor.user_id
    return Q(buyer_id=user_id) | Q(seller_id=user_id) | Q(recipient_user_id=user_id)


def orders_for(actor: Principal) -> QuerySet[Order]:
    """Orders the principal may see: its own (parties; an anonymous identity its one order)
    and, for staff, every order of the countries in their scope."""
    base: QuerySet[Order] = Order.objects.select_related("listing")
    if actor.is_anonymous_identity and actor.order_id is not None:
        return base.filter(pk=actor.order_id, recipient_anon_id=actor.anon_id)
    if not actor.is_registered:
        return base.none()
    if actor.is_staff:
        in_scope = ScopeGuard.filter(actor, base).values("pk")
        return base.filter(_party_filter(actor) | Q(pk__in=in_scope))
    return base.filter(_party_filter(actor))


def order_for(actor: Principal, order_id: int) -> Order:
    """One order the principal may see; ``NOT_FOUND`` otherwise (no id leak)."""
    order = orders_for(actor).filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def allowed_transitions(actor: Principal, order: Order) -> list[str]:
    """Transitions this principal may run on this order now (clients and admin buttons).
    Staff outside the order's country may run none."""
    role = role_of(actor, order)
    if role is None:
        return []
    if role in _STAFF_ROLES and not ScopeGuard.allows(actor, order.country_code):
        return []
    allowed = [
        name
        for name, spec in TRANSITIONS.items()
        if order.status in spec.sources_by_role.get(role, ())
    ]
    if role == Role.BUYER and can_pay(order):
        allowed.insert(0, "pay")
    return allowed


def can_pay(order: Order) -> bool:
    """The buyer may ask to pay: awaiting payment and no payment in flight."""
    return (
        order.status == OrderStatus.PENDING_PAYMENT
        and order.payment_status != PaymentStatus.PROCESSING
    )


#: What the buyer's client shows for ``payment.failureCode`` (English; clients localize by code).
PAYMENT_FAILURE_MESSAGES = {
    "PAYMENT_DECLINED": "The payment was declined. Try again or use another payment method.",
    "PAYMENT_PROVIDER_UNAVAILABLE": "The payment could not be processed right now. "
    "Nothing was charged; please try again.",
}


def payment_view(role: str, order: Order) -> dict[str, Any]:
    """The payment's state: its status for every party; why it failed for the buyer and
    staff (the seller does not learn why a buyer's card was declined)."""
    view: dict[str, Any] = {"status": order.payment_status}
    if order.payment_failure_code and role not in (Role.SELLER, Role.RECIPIENT, ""):
        view["failure_code"] = order.payment_failure_code
        view["failure_message"] = PAYMENT_FAILURE_MESSAGES.get(order.payment_failure_code, "")
    return view


def order_view(actor: Principal, order: Order) -> dict[str, Any]:
    """What ``actor`` may know of ``order`` (API responses and realtime events share it).

    Privacy: the recipient's email is shown only to the buyer who typed it, and nothing says
    whether the recipient has an account (that would tell the buyer whether any email is
    registered).
    """
    role = role_of(actor, order) or ""
    recipient: dict[str, Any] = {"name": order.recipient_name}
    if role == Role.BUYER and order.recipient_email:
        recipient["email"] = order.recipient_email
    return {
        "id": order.pk,
        "status": order.status,
        "country_code": order.country_code,
        "listing_id": order.listing_id,
        "listing_title": order.listing.title,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "role": role,
        "allowed_actions": [a.replace("_", "-") for a in allowed_transitions(actor, order)],
        "recipient": recipient,
        "payment": payment_view(role, order),
        "created_at": order.created_at,
        "paid_at": order.paid_at,
        "accepted_at": order.accepted_at,
        "dispatched_at": order.dispatched_at,
        "delivered_at": order.delivered_at,
        "closed_at": order.closed_at,
    }


# --- contacts for notices (messaging's notification bridge) --------------------------------


@dataclass(frozen=True)
class PartyContact:
    """How to reach one party of an order at send time (PII: never logged, never stored in
    an outbox row -- renderers read it when the worker sends)."""

    #: "email" | "sms" | "" (no way to reach this party)
    channel: str
    #: the email address or E.164 phone number ("" without a channel)
    address: str
    name: str
    #: the recipient's personal link (anonymous recipients only: signed, rendered at send time)
    link: str = ""


@dataclass(frozen=True)
class OrderContacts:
    order_id: int
    country_code: str
    listing_title: str
    #: role ("buyer", "seller", "recipient") -> how to reach that party
    parties: dict[str, PartyContact]


def _user_contact(account: Any) -> PartyContact:
    """A registered party's contact: its account's email (an inactive account: none)."""
    if account is None or not account.is_active or not account.email:
        return PartyContact(channel="", address="", name="")
    return PartyContact(channel="email", address=account.email, name=account.full_name)


def order_contacts(order_id: int) -> OrderContacts | None:
    """The parties' contacts of an order, for a notice rendered at send time (1 query).

    Registered parties are reached by their account's email (inactive accounts: no channel).
    A recipient without an account is reached the way its invitation went
    (``services._invite_recipient``): the email the buyer gave, else the phone, else not at
    all; its ``link`` is the personal (signed) recipient link."""
    order = (
        Order.objects.select_related("listing", "buyer", "seller", "recipient_user")
        .filter(pk=order_id)
        .first()
    )
    if order is None:
        return None
    parties = {Role.BUYER: _user_contact(order.buyer), Role.SELLER: _user_contact(order.seller)}
    if order.recipient_user_id is not None:
        parties[Role.RECIPIENT] = _user_contact(order.recipient_user)
    elif order.recipient_anon_id is not None:
        channel = "email" if order.recipient_email else "sms" if order.recipient_phone else ""
        address = order.recipient_email or order.recipient_phone
        parties[Role.RECIPIENT] = PartyContact(
            channel=channel,
            address=address if channel else "",
            name=order.recipient_name,
            link=recipient_link(order.recipient_anon_id) if channel else "",
        )
    return OrderContacts(
        order_id=order.pk,
        country_code=order.country_code,
        listing_title=order.listing.title,
        parties={str(role): contact for role, contact in parties.items()},
    )


def recipient_invitation_channel(order_id: int) -> str:
    """How the order's anonymous recipient was invited: "email", "sms" or "" (none, or the
    recipient has an account). 1 query; no PII leaves."""
    row = (
        Order.objects.filter(pk=order_id)
        .values_list("recipient_anon_id", "recipient_email", "recipient_phone")
        .first()
    )
    if row is None or row[0] is None:
        return ""
    return "email" if row[1] else "sms" if row[2] else ""


def language_for(country_code: str) -> str:
    """The language of notices in a country (es, pt, else en): the invitation's rule."""
    return _invitation_language(country_code)
