"""Scoped reads of listings and orders: API, admin and later realtime share these."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from aventide.accounts import scope
from aventide.accounts.contracts import is_anonymous_identity
from aventide.core.context import Actor
from aventide.orders.errors import OrderNotFound
from aventide.orders.models import TRANSITIONS, Listing, Order, Role


def listings_public(*, country_code: str | None = None) -> QuerySet[Listing]:
    qs = Listing.objects.filter(active=True).select_related("seller")
    if country_code:
        qs = qs.filter(country_code=country_code)
    return qs


def role_of(actor: Any, order: Order) -> str | None:
    """The actor's role on this order, or None when it has none (then it must not see it).

    Staff get their level (L1..L3); whether the order is in their scope is ScopeGuard's call.
    """
    if isinstance(actor, Actor):
        return Role.SYSTEM if actor.type == "system" else None
    if is_anonymous_identity(actor):
        same_order = actor.order_id == order.pk and order.recipient_anon_id == actor.anon_id
        return Role.RECIPIENT if same_order and actor.role == "recipient" else None
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    if actor.pk == order.buyer_id:
        return Role.BUYER
    if actor.pk == order.seller_id:
        return Role.SELLER
    if order.recipient_user_id is not None and actor.pk == order.recipient_user_id:
        return Role.RECIPIENT
    level = scope.staff_level(actor)
    return level if level in {Role.STAFF_L1, Role.STAFF_L2, Role.STAFF_L3} else None


def orders_for(actor: Any) -> QuerySet[Order]:
    """Orders the actor is a party of (anonymous identities: their one order)."""
    base: QuerySet[Order] = Order.objects.select_related("listing")
    if is_anonymous_identity(actor):
        return base.filter(pk=actor.order_id, recipient_anon_id=actor.anon_id)
    if actor is None or not getattr(actor, "is_authenticated", False):
        return base.none()
    return base.filter(Q(buyer=actor) | Q(seller=actor) | Q(recipient_user=actor))


def orders_for_staff(user: Any) -> QuerySet[Order]:
    """Orders in the staff member's country scopes (none without a scope)."""
    return scope.ScopeGuard.filter(user, Order.objects.select_related("listing"))


def order_for(actor: Any, order_id: int) -> Order:
    """One order the actor is a party of; OrderNotFound otherwise (no id leak)."""
    order = orders_for(actor).filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def allowed_transitions(actor: Any, order: Order) -> list[str]:
    """Transitions this actor may run on this order now (for clients and admin buttons)."""
    role = role_of(actor, order)
    if role is None:
        return []
    return [
        name
        for name, spec in TRANSITIONS.items()
        if order.status in spec.sources_by_role.get(role, ())
    ]
