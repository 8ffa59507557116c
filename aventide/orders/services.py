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

import phonenumbers
from django.db import connection
from django.utils import timezone

from audit import services as audit
from aventide.accounts import selectors as accounts_selectors
from aventide.accounts import services as accounts
from aventide.accounts.contracts import use_case
from aventide.accounts.errors import AccountRequired
from aventide.core import metrics, rowsql
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
    PaymentEventUnmatched,
    RecipientInvalid,
    SellerRequired,
)
from aventide.orders.models import (
    FORCE_COMPLETE_REASONS,
    TRANSITIONS,
    DeliveryAttempt,
    Listing,
    Order,
    OrderStatus,
    PaymentStatus,
    Role,
)
from aventide.orders.selectors import role_of
from integrations import services as outbox

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


def _create_fingerprint(
    listing_id: int, recipient_name: str, recipient_email: str, phone: str, address: str
) -> str:
    request: dict[str, Any] = {
        "listingId": listing_id,
        "recipientName": recipient_name,
        "recipientEmail": recipient_email,
    }
    # only when given: fingerprints of orders created before these fields stay valid
    if phone:
        request["recipientPhone"] = phone
    if address:
        request["recipientAddress"] = address
    canonical = json.dumps(
        request,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _normalize_phone(raw: str, country_code: str) -> str:
    """``raw`` as E.164, read in ``country_code``'s numbering plan when it has no ``+``;
    ``VALIDATION_ERROR`` on ``recipient.phone`` when it is not a possible, valid number."""
    if not raw:
        return ""
    invalid = ValidationFailed(
        details={"recipient": {"phone": ["Not a valid phone number for this country."]}}
    )
    try:
        number = phonenumbers.parse(raw, country_code.upper())
    except phonenumbers.NumberParseException:
        raise invalid from None
    if not phonenumbers.is_valid_number(number):
        raise invalid
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
    recipient_phone: str = "",
    recipient_address: str = "",
    idempotency_key: str | None = None,
) -> OrderCreated:
    """The buyer orders a listing for a recipient; amount and currency come from the listing.

    A recipient without an account gets an anonymous identity bound to this order; its link
    goes to the recipient (email, else SMS: ``recipient_phone`` in E.164, already validated)
    through the outbox, never to the buyer (`_invite_recipient`).

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
    phone = (recipient_phone or "").strip()
    address = (recipient_address or "").strip()
    fingerprint = _create_fingerprint(listing_id, name, email, phone, address) if key else ""
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
        phone = _normalize_phone(phone, listing.country_code)
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
            recipient_phone=phone,
            recipient_address=address,
            currency=listing.currency,
            amount_minor=listing.price_minor,
            idempotency_key=key or "",
            request_fingerprint=fingerprint,
        )
        access = None
        if anon_id is not None:
            access = _issue_recipient_access(actor, order, anon_id)
        _invite_recipient(order)
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
        order: Order | None = uc.lock_row(Order, pk=order_id)
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
        _invite_recipient(order)
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
        order: Order | None = uc.lock_row(Order, related=("listing",), pk=order_id)
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
        # ``save(update_fields=...)`` of ConcurrentTransitionMixin, as one prepared UPDATE
        # with the same optimistic state check (decision 0020).
        if not rowsql.update_row(order, Order.TRANSITION_FIELDS, expect={"status": from_state}):
            raise OrderStateConflict()  # cannot happen under the row lock; kept as a net
        order._update_initial_state()  # what the mixin's save does after writing
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
    """The seller hands the gift over: the courier shipment is booked through the outbox
    (kind ``courier``, key ``order:<id>:shipment``); its ``delivered`` webhook confirms the
    delivery (`order_courier_delivered`)."""

    def book_shipment(order: Order, from_state: str) -> None:
        outbox.enqueue(
            kind="courier",
            operation="shipment.create",
            payload={
                "order_id": str(order.pk),
                # the seller's pickup point is configured with the courier account
                "pickup_address": "",
                "delivery_address": order.recipient_address,
                "recipient_name": order.recipient_name,
            },
            idempotency_key=f"order:{order.pk}:shipment",
            country_code=order.country_code,
        )

    return _transition(actor=actor, order_id=order_id, name="dispatch", after=book_shipment)


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
        key = f"order:{order.pk}:cancel-refund"
        ledger.escrow_refund(actor=actor, order_id=order.pk, idempotency_key=key)
        _refund_to_card(order, order.payment_reference, order.amount_minor, key, "order_cancelled")

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


# --- money and delivery through the integrations hub ---------------------------------------
#
# Requests leave through the outbox (``integrations.services.enqueue``, inside the frame: the
# job exists iff the order change commits); confirmations come back as provider webhooks,
# handled in aventide/orders/provider_events.py by the services below (as the system, inside
# the webhook event's frame). Every handler is idempotent and order-tolerant.

#: ``payment_failure_code`` values and what the buyer reads (selectors.order_view)
PAYMENT_DECLINED = "PAYMENT_DECLINED"
PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
INVITATION_RENDERER = "orders.recipient_invitation"


def _payment_key(order_id: int, attempt: int) -> str:
    return f"order:{order_id}:payment:{attempt}"


def _invite_recipient(order: Order) -> None:
    """Queue the message that brings the recipient to the gift: email when the buyer gave
    one, else SMS, else nothing (staff can re-issue the link). The job stores ids only: the
    renderer (aventide/orders/notifications.py) reads the contact and signs the link when the
    worker sends it, so neither the link's signature nor the contact rests in the outbox row,
    the audit trail or a log line."""
    channel = "email" if order.recipient_email else "sms" if order.recipient_phone else ""
    if not channel:
        return
    recipient = str(order.recipient_anon_id) if order.recipient_anon_id else "user"
    outbox.enqueue(
        kind=channel,
        operation=f"{channel}.send",
        payload={
            "render": INVITATION_RENDERER,
            "params": {"orderId": order.pk, "anonId": recipient, "channel": channel},
        },
        idempotency_key=f"order:{order.pk}:invitation:{recipient}",
        country_code=order.country_code,
    )


def _refund_to_card(
    order: Order, payment_reference: str, amount_minor: int, key: str, reason: str
) -> None:
    """Send money back to the buyer's card: a payments refund job carrying the ledger
    transaction's idempotency key (the provider sees that key: one refund however often the
    job runs). ``refund.succeeded`` comes back as evidence (`order_refund_confirmed`)."""
    if not payment_reference:
        return  # nothing was charged through the provider (e.g. a seeded order)
    outbox.enqueue(
        kind="payments",
        operation="refund.create",
        payload={
            "payment_reference": payment_reference,
            "amount_minor": amount_minor,
            "currency": order.currency,
            "order_id": str(order.pk),
            "reason": reason,
        },
        idempotency_key=key,
        country_code=order.country_code,
    )


def order_pay(*, actor: Principal, order_id: int) -> Order:
    """The buyer pays: a payments job for the order's amount (never the client's), key
    ``order:<id>:payment:<n>``. The order turns ``paid`` when the provider's
    ``payment.captured`` webhook arrives. Idempotent while a payment is in flight (the same
    order comes back); after a failure (``payment.status`` ``failed`` with a code the client
    can show) paying again starts a new payment. Audit: ``order.payment_requested``.
    """
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, related=("listing",), pk=order_id)
        if order is None:
            raise OrderNotFound()
        role = role_of(actor, order)
        if role in _STAFF_ROLES:
            uc.require_scope(order.country_code, action="order.pay", target=order)
        if role is None:
            raise OrderNotFound()
        if role != Role.BUYER:
            raise OrderActionForbidden()
        if order.status != OrderStatus.PENDING_PAYMENT:
            raise InvalidTransition(transition="pay", current_state=order.status)
        if order.payment_status == PaymentStatus.PROCESSING:
            return order  # a payment is in flight: the same answer, no second charge
        uc.act_as(Role.BUYER)
        order.payment_attempts += 1
        order.payment_status = PaymentStatus.PROCESSING
        order.payment_failure_code = ""
        order.save(
            update_fields=[
                "payment_attempts",
                "payment_status",
                "payment_failure_code",
                "updated_at",
            ]
        )
        key = _payment_key(order.pk, order.payment_attempts)
        outbox.enqueue(
            kind="payments",
            operation="payment.create",
            payload={
                "amount_minor": order.amount_minor,
                "currency": order.currency,
                "order_id": str(order.pk),
                "description": f"Aventide order {order.pk}",
            },
            idempotency_key=key,
            country_code=order.country_code,
        )
        audit.record(
            OrderAction.PAYMENT_REQUESTED,
            order,
            data={
                "attempt": order.payment_attempts,
                "amountMinor": order.amount_minor,
                "currency": order.currency,
                "idempotencyKey": key,
            },
        )
    return order


def order_payment_failed(
    *, actor: Principal, order_id: int, idempotency_key: str, permanent: bool
) -> None:
    """A payment job ended in the DLQ (the provider refused it, or stayed unreachable through
    every retry): the order stays ``pending_payment`` with a reason the buyer can read, and
    may be paid again. A stale attempt (a newer one exists, or the order moved on) changes
    nothing. Audit: ``order.payment_failed``."""
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None:
            return
        current = _payment_key(order.pk, order.payment_attempts)
        if (
            order.status != OrderStatus.PENDING_PAYMENT
            or order.payment_status != PaymentStatus.PROCESSING
            or idempotency_key != current
        ):
            return
        code = PAYMENT_DECLINED if permanent else PAYMENT_PROVIDER_UNAVAILABLE
        order.payment_status = PaymentStatus.FAILED
        order.payment_failure_code = code
        order.save(update_fields=["payment_status", "payment_failure_code", "updated_at"])
        audit.record(
            OrderAction.PAYMENT_FAILED,
            order,
            data={"attempt": order.payment_attempts, "code": code, "idempotencyKey": current},
        )


def order_payment_captured(
    *, actor: Principal, order_id: int, payment_reference: str, amount_minor: int, currency: str
) -> Order:
    """The provider captured a payment for the order (its ``payment.captured`` webhook).

    - pending payment: the amount and currency must be the order's (else
      ``PAYMENT_EVENT_UNMATCHED``: the event fails and reaches the DLQ for ops; the order is
      not marked paid); then ``order_mark_paid`` (ledger capture into escrow).
    - already paid with this reference: nothing (a redelivery).
    - paid with another reference (a second capture), or cancelled while the payment was in
      flight: the money is sent back to the card (``order.capture_returned``).
    """
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None:
            raise PaymentEventUnmatched(f"no order {order_id} for this payment")
        if amount_minor != order.amount_minor or currency.upper() != order.currency:
            logger.error("PAYMENT_EVENT_UNMATCHED", orderId=order.pk, reason="amount_or_currency")
            raise PaymentEventUnmatched("the captured amount or currency is not the order's")
        if order.status == OrderStatus.PENDING_PAYMENT:
            return order_mark_paid(
                actor=actor, order_id=order.pk, payment_reference=payment_reference
            )
        if order.payment_reference == payment_reference:
            return order  # processed before
        key = f"order:{order.pk}:capture-return:{payment_reference}"
        _refund_to_card(order, payment_reference, amount_minor, key, "capture_not_kept")
        audit.record(
            OrderAction.CAPTURE_RETURNED,
            order,
            data={
                "paymentReference": payment_reference,
                "amountMinor": amount_minor,
                "currency": order.currency,
                "orderStatus": order.status,
                "idempotencyKey": key,
            },
        )
    return order


def order_refund_confirmed(
    *,
    actor: Principal,
    order_id: int,
    refund_reference: str,
    payment_reference: str,
    amount_minor: int,
    currency: str,
) -> bool:
    """The provider confirms a refund reached the card (``refund.succeeded``): evidence,
    ``order.refund_confirmed``. False when it was recorded before. The caller
    (`provider_events`) waits first for the capture the refund belongs to (events arrive out
    of order); an unknown order is ``PAYMENT_EVENT_UNMATCHED``."""
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None:
            raise PaymentEventUnmatched(f"no order {order_id} for this refund")
        if order.refund_reference == refund_reference:
            return False
        order.refund_reference = refund_reference[:120]
        order.save(update_fields=["refund_reference", "updated_at"])
        audit.record(
            OrderAction.REFUND_CONFIRMED,
            order,
            data={
                "refundReference": refund_reference,
                "paymentReference": payment_reference,
                "amountMinor": amount_minor,
                "currency": currency.upper(),
            },
        )
    return True


def order_knows_payment(*, order_id: int, payment_reference: str) -> bool | None:
    """Whether the order recorded this payment (None: no such order). Reads only."""
    order = Order.objects.filter(pk=order_id).only("payment_reference").first()
    if order is None:
        return None
    return bool(payment_reference) and order.payment_reference == payment_reference


def order_courier_delivered(*, actor: Principal, order_id: int, shipment_reference: str) -> bool:
    """The courier delivered (its ``delivered`` webhook): an order in transit becomes
    ``delivered`` (the dispute window starts). True when this call delivered it; False for a
    redelivery or an order already past it. An order not yet in transit raises
    ``InvalidTransition`` (the caller retries later)."""
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None:
            raise PaymentEventUnmatched(f"no order {order_id} for this shipment")
        if order.status in (OrderStatus.DELIVERED, *_CLOSED):
            return False
        if order.status != OrderStatus.IN_TRANSIT:
            raise InvalidTransition(transition="confirm_delivery", current_state=order.status)
        if shipment_reference and not order.shipment_reference:
            order.shipment_reference = shipment_reference[:120]
            order.save(update_fields=["shipment_reference", "updated_at"])
        order_confirm_delivery(actor=actor, order_id=order.pk)
    return True


def order_shipment_booked(*, actor: Principal, order_id: int, shipment_reference: str) -> None:
    """The courier accepted the shipment job: keep its reference (support quotes it).
    Audit: ``order.shipment_created``. Idempotent."""
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None or order.shipment_reference == shipment_reference:
            return
        order.shipment_reference = shipment_reference[:120]
        order.save(update_fields=["shipment_reference", "updated_at"])
        audit.record(
            OrderAction.SHIPMENT_CREATED, order, data={"shipmentReference": shipment_reference}
        )


_CLOSED = (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.FORCE_COMPLETED)

FulfilmentHook = Callable[[Order, DeliveryAttempt], None]
_FULFILMENT_HOOKS: list[FulfilmentHook] = []


def register_fulfilment_hook(hook: FulfilmentHook) -> None:
    """Called as ``hook(order, attempt)`` inside the transaction that records a failed
    delivery attempt (messaging opens the order's chat on it)."""
    if hook not in _FULFILMENT_HOOKS:
        _FULFILMENT_HOOKS.append(hook)


def order_delivery_attempt_failed(
    *,
    actor: Principal,
    order_id: int,
    provider_event_id: str,
    shipment_reference: str,
    reason: str,
    occurred_at: datetime,
) -> DeliveryAttempt | None:
    """The courier tried and could not deliver (``attempt_failed``): one ``DeliveryAttempt``
    per courier event, ``order.delivery_attempt_failed``, and the fulfilment hooks. None
    for a redelivery, or an order no longer in transit (nothing to record)."""
    with use_case(actor) as uc:
        order: Order | None = uc.lock_row(Order, pk=order_id)
        if order is None:
            raise PaymentEventUnmatched(f"no order {order_id} for this shipment")
        if order.status != OrderStatus.IN_TRANSIT:
            return None
        if DeliveryAttempt.objects.filter(provider_event_id=provider_event_id).exists():
            return None
        attempt = DeliveryAttempt.objects.create(
            order=order,
            provider_event_id=provider_event_id[:255],
            shipment_reference=shipment_reference[:120],
            reason=reason[:64],
            occurred_at=occurred_at,
        )
        audit.record(
            OrderAction.DELIVERY_ATTEMPT_FAILED,
            order,
            data={"reason": attempt.reason, "shipmentReference": attempt.shipment_reference},
        )
        for hook in _FULFILMENT_HOOKS:
            hook(order, attempt)
    return attempt
