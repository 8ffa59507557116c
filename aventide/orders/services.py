"""Order write services: listings, order creation and every status transition.

Each transition, in ONE transaction: lock the order row (``select_for_update``), resolve the
actor's role on it, check the role against ``TRANSITIONS`` (403 ``ORDER_ACTION_FORBIDDEN``)
and the current state (409 ``INVALID_TRANSITION``), run the django-fsm-2 method, save only the
transition fields (``ConcurrentTransitionMixin`` turns a lost race into 409
``ORDER_STATE_CONFLICT``), move the money in the ledger (idempotent keys per order and step),
write the audit event and call the registered transition hooks (realtime, later). Staff pass
ScopeGuard *before* the transaction so a refused attempt keeps its audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from audit import services as audit
from aventide.accounts import scope
from aventide.accounts import services as accounts
from aventide.accounts.contracts import actor_for, is_anonymous_identity
from aventide.accounts.countries import country_settings
from aventide.core import metrics
from aventide.core.context import Actor
from aventide.core.errors import DomainError
from aventide.core.logging import get_logger
from aventide.ledger import services as ledger
from aventide.orders.errors import (
    CannotBuyOwnListing,
    ForceCompleteInvalid,
    InvalidTransition,
    ListingNotFound,
    ListingUnavailable,
    OrderActionForbidden,
    OrderNotFound,
    OrderStateConflict,
    RecipientInvalid,
    SellerRequired,
)
from aventide.orders.models import (
    FORCE_COMPLETE_REASONS,
    TRANSITIONS,
    Listing,
    Order,
    OrderStatus,
    Role,
)
from aventide.orders.selectors import role_of

logger = get_logger("aventide.orders")

TransitionHook = Callable[[Order, str, str], None]
_TRANSITION_HOOKS: list[TransitionHook] = []

RECIPIENT_ACCESS_TTL = timedelta(days=60)
SYSTEM_ACTOR = Actor(type="system", id="orders", level="L0")


def register_transition_hook(hook: TransitionHook) -> None:
    """Called as ``hook(order, transition_name, from_state)`` inside the transaction."""
    if hook not in _TRANSITION_HOOKS:
        _TRANSITION_HOOKS.append(hook)


def _audit_actor(actor: Any) -> Actor:
    return actor if isinstance(actor, Actor) else actor_for(actor)


# --- listings ------------------------------------------------------------------------------


def listing_create(*, actor: Any, title: str, price_minor: int) -> Listing:
    """A seller publishes a listing in its own country, priced in that country's currency."""
    if is_anonymous_identity(actor) or not getattr(actor, "is_seller", False):
        raise SellerRequired()
    currency = country_settings(actor.country_code).currency
    with transaction.atomic():
        listing = Listing.objects.create(
            seller=actor,
            country_code=actor.country_code,
            title=title.strip(),
            price_minor=price_minor,
            currency=currency,
        )
        audit.record(
            "listing.created",
            listing,
            data={"priceMinor": price_minor, "currency": currency},
            actor=_audit_actor(actor),
            actor_level=Role.SELLER,
        )
    return listing


def listing_set_active(*, actor: Any, listing_id: int, active: bool) -> Listing:
    """Staff L3 (scoped) take a listing off the catalogue or put it back. Idempotent.

    ScopeGuard runs before the transaction (a refusal keeps its audit row). Audit:
    ``listing.deactivated`` / ``listing.reactivated``.
    """
    country = Listing.objects.filter(pk=listing_id).values_list("country_code", flat=True).first()
    if country is None:
        raise ListingNotFound()
    scope.ScopeGuard.check(
        actor, country, action="listing.set_active", target=f"listing:{listing_id}"
    )
    scope.ScopeGuard.require_level(actor, "L3")
    with transaction.atomic():
        listing = Listing.objects.select_for_update().get(pk=listing_id)
        if listing.active == active:
            return listing
        listing.active = active
        listing.save(update_fields=["active"])
        audit.record(
            "listing.reactivated" if active else "listing.deactivated",
            listing,
            actor=_audit_actor(actor),
            actor_level=scope.staff_level(actor) or "",
        )
    return listing


# --- orders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCreated:
    order: Order
    recipient_access: accounts.IssuedAnonymousIdentity | None


def order_create(
    *, actor: Any, listing_id: int, recipient_name: str, recipient_email: str = ""
) -> OrderCreated:
    """The buyer orders a listing for a recipient; amount and currency come from the listing.

    A recipient without an account gets an anonymous identity bound to this order (its
    credentials go to the recipient through the notification bridge, never to the buyer).
    """
    if is_anonymous_identity(actor) or not getattr(actor, "is_authenticated", False):
        raise OrderActionForbidden("Only registered buyers can place orders.")
    email = (recipient_email or "").strip().lower()
    if email and email == (getattr(actor, "email", "") or "").lower():
        raise RecipientInvalid()
    with transaction.atomic():
        listing = Listing.objects.select_related("seller").filter(pk=listing_id).first()
        if listing is None:
            raise ListingNotFound()
        if not listing.active:
            raise ListingUnavailable()
        if listing.seller_id == actor.pk:
            raise CannotBuyOwnListing()
        if email and email == listing.seller.email.lower():
            raise RecipientInvalid()
        recipient_user = (
            get_user_model().objects.filter(email__iexact=email, is_active=True).first()
            if email
            else None
        )
        order = Order.objects.create(
            country_code=listing.country_code,
            listing=listing,
            buyer=actor,
            seller_id=listing.seller_id,
            recipient_user=recipient_user,
            recipient_name=recipient_name.strip(),
            recipient_email=email,
            currency=listing.currency,
            amount_minor=listing.price_minor,
        )
        access = None
        if recipient_user is None:
            access = accounts.anonymous_identity_issue(
                order_id=order.pk,
                country_code=order.country_code,
                role="recipient",
                ttl=RECIPIENT_ACCESS_TTL,
            )
            order.recipient_anon_id = access.anon_id
            order.save(update_fields=["recipient_anon_id"])
        audit.record(
            "order.created",
            order,
            data={
                "listingId": listing.pk,
                "amountMinor": order.amount_minor,
                "currency": order.currency,
                "recipientKind": "user" if recipient_user else "anonymous",
            },
            actor=_audit_actor(actor),
            actor_level=Role.BUYER,
        )
        for hook in _TRANSITION_HOOKS:
            hook(order, "create", "")
    return OrderCreated(order=order, recipient_access=access)


def _check_staff_scope(actor: Any, order_id: int, name: str) -> None:
    """Staff: ScopeGuard first, outside the transaction, so the refusal's audit row stays."""
    if isinstance(actor, Actor) or is_anonymous_identity(actor):
        return
    if not getattr(actor, "is_staff", False):
        return
    country = Order.objects.filter(pk=order_id).values_list("country_code", flat=True).first()
    if country is None:
        raise OrderNotFound()
    scope.ScopeGuard.check(actor, country, action=f"order.{name}", target=f"order:{order_id}")


def _transition(
    *,
    actor: Any,
    order_id: int,
    name: str,
    audit_data: dict[str, Any] | None = None,
    after: Callable[[Order], None] | None = None,
    **kwargs: Any,
) -> Order:
    spec = TRANSITIONS[name]
    _check_staff_scope(actor, order_id, name)
    try:
        with transaction.atomic():
            order: Order | None = Order.objects.select_for_update().filter(pk=order_id).first()
            if order is None:
                raise OrderNotFound()
            role = role_of(actor, order)
            if role is None:
                raise OrderNotFound()
            if role not in spec.roles:
                raise OrderActionForbidden()
            from_state = order.status
            if from_state not in spec.sources_by_role[role]:
                raise InvalidTransition(transition=name, current_state=from_state)
            getattr(order, name)(at=timezone.now(), **kwargs)
            order.save(update_fields=list(Order.TRANSITION_FIELDS))
            if after is not None:
                after(order)
            audit.record(
                spec.audit_action,
                order,
                data={"from": from_state, "to": order.status, **(audit_data or {})},
                actor=_audit_actor(actor),
                actor_level=role,
            )
            for hook in _TRANSITION_HOOKS:
                hook(order, name, from_state)
            return order
    except ConcurrentTransition as exc:
        raise OrderStateConflict() from exc


def order_mark_paid(*, actor: Actor, order_id: int, payment_reference: str) -> Order:
    """Payment captured (system: the payments webhook): capture into the order's escrow."""

    def capture(order: Order) -> None:
        ledger.capture(
            order_id=order.pk,
            country_code=order.country_code,
            buyer_id=order.buyer_id,
            seller_id=order.seller_id,
            amount_minor=order.amount_minor,
            currency=order.currency,
            idempotency_key=f"order:{order.pk}:capture",
        )

    return _transition(
        actor=actor,
        order_id=order_id,
        name="mark_paid",
        payment_reference=payment_reference,
        audit_data={"paymentReference": payment_reference},
        after=capture,
    )


def order_accept(*, actor: Any, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="accept")


def order_dispatch(*, actor: Any, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="dispatch")


def order_confirm_delivery(*, actor: Any, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="confirm_delivery")


def _release(order: Order) -> None:
    ledger.release(order_id=order.pk, idempotency_key=f"order:{order.pk}:release")


def order_complete(*, actor: Actor, order_id: int) -> Order:
    """The dispute window passed (system): complete and release escrow to seller + fee."""
    return _transition(actor=actor, order_id=order_id, name="complete", after=_release)


def order_cancel(*, actor: Any, order_id: int, reason: str = "") -> Order:
    """Cancel before dispatch; a paid order's escrow is refunded to the buyer in full."""

    def refund(order: Order) -> None:
        ledger.refund_all(order_id=order.pk, idempotency_key=f"order:{order.pk}:cancel-refund")

    reason = (reason or "").strip()[:200]
    return _transition(
        actor=actor,
        order_id=order_id,
        name="cancel",
        reason=reason,
        audit_data={"reason": reason},
        after=refund,
    )


def order_force_complete(
    *, actor: Any, order_id: int, reason_code: str, evidence_refs: list[str]
) -> Order:
    """L3 only: close an order stuck in transit/delivered, with a reason code and evidence."""
    refs = [str(r).strip() for r in evidence_refs if str(r).strip()]
    if reason_code not in dict(FORCE_COMPLETE_REASONS) or not refs:
        raise ForceCompleteInvalid()
    return _transition(
        actor=actor,
        order_id=order_id,
        name="force_complete",
        reason_code=reason_code,
        evidence_refs=refs,
        audit_data={"reasonCode": reason_code, "evidenceRefs": refs},
        after=_release,
    )


def orders_complete_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Complete delivered orders whose country's dispute window has passed. Safe to rerun.

    Each order completes in its own transaction. One order (or country) that cannot complete
    is logged and counted (``METRIC_ORDER_COMPLETION_FAILED{code}``) and skipped, so it never
    holds back the others; an order that changed meanwhile is simply skipped.
    """
    now = now or timezone.now()
    done = 0
    delivered = Order.objects.filter(status=OrderStatus.DELIVERED)
    countries = sorted(set(delivered.values_list("country_code", flat=True)))
    for country in countries:
        try:
            window = timedelta(hours=country_settings(country).dispute_window_hours)
        except DomainError as exc:
            _completion_failed(exc, country=country)
            continue
        due = delivered.filter(country_code=country, delivered_at__lte=now - window)
        for order_id in due.order_by("delivered_at").values_list("pk", flat=True)[:limit]:
            try:
                order_complete(actor=SYSTEM_ACTOR, order_id=order_id)
            except (InvalidTransition, OrderStateConflict):
                continue  # changed meanwhile (e.g. force-completed): nothing to do
            except DomainError as exc:
                _completion_failed(exc, country=country, order_id=order_id)
                continue
            done += 1
    return done


def _completion_failed(exc: DomainError, *, country: str, order_id: int | None = None) -> None:
    logger.warning("ORDER_COMPLETION_FAILED", code=exc.code, countryCode=country, orderId=order_id)
    metrics.emit("METRIC_ORDER_COMPLETION_FAILED", labels={"code": exc.code, "country": country})
