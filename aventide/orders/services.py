"""Order write services: listings, order creation and every status transition.

Every service runs in one use-case frame (docs/development/recipe.md; the cancel is its worked
example). A transition, in ONE transaction: lock the order row, resolve the actor's role on it
(staff: ScopeGuard first -- a refusal is audited although the call rolls back), check the role
against ``TRANSITIONS`` (403 ``ORDER_ACTION_FORBIDDEN``) and the current state (409
``INVALID_TRANSITION``), run the django-fsm-2 method, save only the transition fields, move
the money in the ledger (one idempotency key per order and step, joining this frame: same
transaction, same audit attribution), write the audit event and call the registered transition
hooks (realtime). Nothing leaves the process before commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from django_fsm import ConcurrentTransition

from audit import services as audit
from aventide.accounts import selectors as accounts_selectors
from aventide.accounts import services as accounts
from aventide.accounts.contracts import use_case
from aventide.accounts.errors import AccountRequired
from aventide.core import metrics
from aventide.core.errors import DomainError, IdempotencyKeyReused, ValidationFailed
from aventide.core.logging import get_logger
from aventide.core.principal import SYSTEM, Principal
from aventide.ledger import services as ledger
from aventide.markets.policy import country_policy
from aventide.orders.audit_actions import ListingAction, OrderAction
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
MAX_IDEMPOTENCY_KEY_LENGTH = 255


def register_transition_hook(hook: TransitionHook) -> None:
    """Called as ``hook(order, transition_name, from_state)`` inside the transaction."""
    if hook not in _TRANSITION_HOOKS:
        _TRANSITION_HOOKS.append(hook)


# --- listings ------------------------------------------------------------------------------


def listing_create(*, actor: Principal, title: str, price_minor: int) -> Listing:
    """A seller publishes a listing in its own country, priced in that country's currency.
    Audit: ``listing.created`` (level ``seller``)."""
    seller_id = actor.user_id
    if seller_id is None or not actor.is_seller:
        raise SellerRequired()
    currency = country_policy(actor.country_code).currency
    with use_case(actor, level=Role.SELLER):
        listing = Listing.objects.create(
            seller_id=seller_id,
            country_code=actor.country_code,
            title=title.strip(),
            price_minor=price_minor,
            currency=currency,
        )
        audit.record(
            ListingAction.CREATED,
            listing,
            data={"priceMinor": price_minor, "currency": currency},
        )
    return listing


def listing_set_active(*, actor: Principal, listing_id: int, active: bool) -> Listing:
    """Staff L3 (scoped) take a listing off the catalogue or put it back. Idempotent.
    Audit: ``listing.deactivated`` / ``listing.reactivated``."""
    with use_case(actor) as uc:
        listing = uc.lock(Listing.objects.filter(pk=listing_id))
        if listing is None:
            raise ListingNotFound()
        uc.require_scope(listing.country_code, action="listing.set_active", target=listing)
        uc.require_level("L3")
        if listing.active == active:
            return listing
        listing.active = active
        listing.save(update_fields=["active"])
        audit.record(ListingAction.REACTIVATED if active else ListingAction.DEACTIVATED, listing)
    return listing


# --- orders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCreated:
    order: Order
    recipient_access: accounts.IssuedAnonymousIdentity | None
    #: False when an ``Idempotency-Key`` repeat returned the order created earlier.
    created: bool = True


def _create_fingerprint(listing_id: int, recipient_name: str, recipient_email: str) -> str:
    canonical = json.dumps(
        {
            "listingId": listing_id,
            "recipientName": recipient_name,
            "recipientEmail": recipient_email,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _serialize_key(buyer_id: int, key: str) -> None:
    """Make concurrent creates with one (buyer, key) wait for each other inside the frame's
    transaction, so the second sees the first's order (READ COMMITTED: its next statement
    reads the committed row). PostgreSQL: a transaction-scoped advisory lock on a hash of
    the pair; SQLite has a single writer already. The UNIQUE constraint is the backstop."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"order-create:{buyer_id}:{key}".encode()).digest()
    lock_id = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def order_create(
    *,
    actor: Principal,
    listing_id: int,
    recipient_name: str,
    recipient_email: str = "",
    idempotency_key: str | None = None,
) -> OrderCreated:
    """The buyer orders a listing for a recipient; amount and currency come from the listing.

    A recipient without an account gets an anonymous identity bound to this order (its
    credentials go to the recipient through the notification bridge, never to the buyer).

    Idempotency: with ``idempotency_key`` (the client's ``Idempotency-Key``), the same key
    and the same request return the order created first (``created`` False); the same key with
    another request is ``IDEMPOTENCY_KEY_REUSED`` (422). Keys are per buyer, kept forever.
    Audit: ``order.created`` (level ``buyer``) and the identity's ``anonymous_identity.issued``.
    """
    if not actor.is_registered:
        raise AccountRequired()
    name = recipient_name.strip()
    email = (recipient_email or "").strip().lower()
    if email and email == actor.email.lower():
        raise RecipientInvalid()
    key = idempotency_key or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValidationFailed(
            details={"idempotencyKey": [f"At most {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
        )
    fingerprint = _create_fingerprint(listing_id, name, email) if key else ""
    buyer_id = actor.user_id
    assert buyer_id is not None  # registered
    with use_case(actor, level=Role.BUYER):
        if key is not None:
            _serialize_key(buyer_id, key)
            existing = (
                Order.objects.select_related("listing")
                .filter(buyer_id=buyer_id, idempotency_key=key)
                .first()
            )
            if existing is not None:
                if existing.request_fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return OrderCreated(order=existing, recipient_access=None, created=False)
        listing = Listing.objects.filter(pk=listing_id).first()
        if listing is None:
            raise ListingNotFound()
        if not listing.active:
            raise ListingUnavailable()
        if listing.seller_id == buyer_id:
            raise CannotBuyOwnListing()
        recipient_user_id = None
        if email:
            account = accounts_selectors.account_for_email(email=email)
            if account is not None:
                if account.user_id in (listing.seller_id, buyer_id):
                    raise RecipientInvalid()
                recipient_user_id = account.user_id if account.is_active else None
        anon_id = None if recipient_user_id is not None else uuid.uuid4()
        order = Order.objects.create(
            country_code=listing.country_code,
            listing=listing,
            buyer_id=buyer_id,
            seller_id=listing.seller_id,
            recipient_user_id=recipient_user_id,
            recipient_anon_id=anon_id,
            recipient_name=name,
            recipient_email=email,
            currency=listing.currency,
            amount_minor=listing.price_minor,
            idempotency_key=key or "",
            request_fingerprint=fingerprint,
        )
        access = None
        if anon_id is not None:
            access = _issue_recipient_access(actor, order, anon_id)
        audit.record(
            OrderAction.CREATED,
            order,
            data={
                "listingId": listing.pk,
                "amountMinor": order.amount_minor,
                "currency": order.currency,
                "recipientKind": "user" if recipient_user_id else "anonymous",
                **({"idempotencyKey": key} if key else {}),
            },
        )
        for hook in _TRANSITION_HOOKS:
            hook(order, "create", "")
    return OrderCreated(order=order, recipient_access=access)


def _issue_recipient_access(
    actor: Principal, order: Order, anon_id: uuid.UUID
) -> accounts.IssuedAnonymousIdentity:
    """The recipient's link: an anonymous identity bound to the order, valid for the
    order's recipient window."""
    return accounts.anonymous_identity_issue(
        actor=actor,
        order_id=order.pk,
        country_code=order.country_code,
        role="recipient",
        ttl=RECIPIENT_ACCESS_TTL,
        anon_id=anon_id,
    )


def order_recipient_link_reissue(
    *, actor: Principal, order_id: int, reason: str = ""
) -> accounts.IssuedAnonymousIdentity:
    """Give the order's recipient (one without an account) a new link: a fresh anonymous
    identity bound to the order, and the old one revoked -- e.g. the link was lost or leaked.

    Staff L2+ in the order's country, or the system. Open orders only; an order whose
    recipient has an account has no link (``ORDER_ACTION_FORBIDDEN``). The new credentials go
    to the recipient (notification bridge), never in the response to staff. Audit:
    ``order.recipient_link_reissued`` (+ the identities' issued/revoked rows).
    """
    with use_case(actor) as uc:
        order: Order | None = uc.lock(Order.objects.filter(pk=order_id))
        if order is None:
            raise OrderNotFound()
        if not actor.is_system:
            if not actor.is_staff:
                raise OrderNotFound()
            uc.require_scope(order.country_code, action="order.reissue_link", target=order)
            uc.require_level("L2")
        if order.recipient_user_id is not None or order.is_closed:
            raise OrderActionForbidden("This order has no recipient link to re-issue.")
        old = order.recipient_anon_id
        new_id = uuid.uuid4()
        access = _issue_recipient_access(actor, order, new_id)
        order.recipient_anon_id = new_id
        order.save(update_fields=["recipient_anon_id", "updated_at"])
        if old is not None:
            accounts.anonymous_identity_revoke(actor=actor, anon_id=old, reason=reason[:200])
        audit.record(
            OrderAction.RECIPIENT_LINK_REISSUED,
            order,
            data={"reason": reason[:200], "previousRevoked": old is not None},
        )
    return access


_STAFF_ROLES = frozenset({Role.STAFF_L1, Role.STAFF_L2, Role.STAFF_L3})


def _transition(
    *,
    actor: Principal,
    order_id: int,
    name: str,
    audit_data: dict[str, Any] | None = None,
    after: Callable[[Order, str], None] | None = None,
    **kwargs: Any,
) -> Order:
    """Run transition ``name`` on the order as ``actor`` (see the module docstring).
    ``after(order, from_state)`` runs the money step inside the same frame."""
    spec = TRANSITIONS[name]
    with use_case(actor) as uc:
        order: Order | None = uc.lock(Order.objects.select_related("listing").filter(pk=order_id))
        if order is None:
            raise OrderNotFound()
        role = role_of(actor, order)
        if role in _STAFF_ROLES:
            uc.require_scope(order.country_code, action=f"order.{name}", target=order)
        if role is None:
            raise OrderNotFound()
        if role not in spec.roles:
            raise OrderActionForbidden()
        from_state = order.status
        if from_state not in spec.sources_by_role[role]:
            raise InvalidTransition(transition=name, current_state=from_state)
        uc.act_as(actor.level if actor.is_system else role)  # the system acts at L0
        getattr(order, name)(at=timezone.now(), **kwargs)
        try:
            order.save(update_fields=list(Order.TRANSITION_FIELDS))
        except ConcurrentTransition as exc:  # cannot happen under the row lock; kept as a net
            raise OrderStateConflict() from exc
        if after is not None:
            after(order, from_state)
        audit.record(
            spec.audit_action,
            order,
            data={"from": from_state, "to": order.status, **(audit_data or {})},
        )
        for hook in _TRANSITION_HOOKS:
            hook(order, name, from_state)
    return order


def order_mark_paid(*, actor: Principal, order_id: int, payment_reference: str) -> Order:
    """Payment captured (system: the payments webhook): capture into the order's escrow."""

    def capture(order: Order, from_state: str) -> None:
        ledger.escrow_capture(
            actor=actor,
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


def order_accept(*, actor: Principal, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="accept")


def order_dispatch(*, actor: Principal, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="dispatch")


def order_confirm_delivery(*, actor: Principal, order_id: int) -> Order:
    return _transition(actor=actor, order_id=order_id, name="confirm_delivery")


def _release(actor: Principal) -> Callable[[Order, str], None]:
    def release(order: Order, from_state: str) -> None:
        ledger.escrow_release(
            actor=actor, order_id=order.pk, idempotency_key=f"order:{order.pk}:release"
        )

    return release


def order_complete(*, actor: Principal, order_id: int) -> Order:
    """The dispute window passed (system): complete and release escrow to seller + fee."""
    return _transition(actor=actor, order_id=order_id, name="complete", after=_release(actor))


def order_cancel(*, actor: Principal, order_id: int, reason: str = "") -> Order:
    """Cancel before dispatch; a paid order's escrow is refunded to the buyer in full.

    The worked example of docs/development/recipe.md. One frame: lock the order, scope (staff),
    role and state checks, the FSM transition, the refund (joining the frame: one escrow lock,
    one idempotency check), the ``order.cancelled`` audit row. Query budget: asserted in
    tests/orders/test_query_budgets.py.
    """

    def refund(order: Order, from_state: str) -> None:
        if from_state == OrderStatus.PENDING_PAYMENT:
            return  # nothing was captured
        ledger.escrow_refund(
            actor=actor, order_id=order.pk, idempotency_key=f"order:{order.pk}:cancel-refund"
        )

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
    *, actor: Principal, order_id: int, reason_code: str, evidence_refs: list[str]
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
        after=_release(actor),
    )


def orders_complete_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Complete delivered orders whose country's dispute window has passed. Safe to rerun.

    Runs as the one system principal (L0). Each order completes in its own frame. One order
    (or country) that cannot complete is logged and counted
    (``METRIC_ORDER_COMPLETION_FAILED{code}``) and skipped, so it never holds back the others;
    an order that changed meanwhile is simply skipped.
    """
    now = now or timezone.now()
    done = 0
    delivered = Order.objects.filter(status=OrderStatus.DELIVERED)
    countries = sorted(set(delivered.values_list("country_code", flat=True)))
    for country in countries:
        try:
            window = timedelta(hours=country_policy(country).dispute_window_hours)
        except DomainError as exc:
            _completion_failed(exc, country=country)
            continue
        due = delivered.filter(country_code=country, delivered_at__lte=now - window)
        for order_id in due.order_by("delivered_at").values_list("pk", flat=True)[:limit]:
            try:
                order_complete(actor=SYSTEM, order_id=order_id)
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
