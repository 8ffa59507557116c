"""Listings and orders.

The order status is a protected django-fsm-2 ``FSMField`` with ``ConcurrentTransitionMixin``
(a save whose status changed meanwhile raises ``ConcurrentTransition``). ``TRANSITIONS`` is
the one map of who may do what from which state: the FSM decorators, the service's
permission check, the admin buttons and the table-driven tests are all generated from it.
Transition methods only guard and assign: no I/O, no queries, no saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from aventide.orders.audit_actions import OrderAction


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Pending payment"
    PAID = "paid", "Paid"
    ACCEPTED = "accepted", "Accepted"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FORCE_COMPLETED = "force_completed", "Force completed"


class PaymentStatus(models.TextChoices):
    """Where the buyer's payment stands (``POST /api/orders/{id}/pay``); the order's ``status``
    says ``paid`` only once the provider's ``payment.captured`` webhook was processed."""

    NONE = "none", "Not requested"
    PROCESSING = "processing", "Processing"
    FAILED = "failed", "Failed"
    CAPTURED = "captured", "Captured"


class Role(models.TextChoices):
    """Who acts on an order, relative to it."""

    BUYER = "buyer"
    SELLER = "seller"
    RECIPIENT = "recipient"
    SYSTEM = "system"
    STAFF_L1 = "L1"
    STAFF_L2 = "L2"
    STAFF_L3 = "L3"


S = OrderStatus


@dataclass(frozen=True)
class TransitionSpec:
    name: str
    target: str
    sources_by_role: dict[str, tuple[str, ...]]
    audit_action: OrderAction

    @property
    def sources(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for states in self.sources_by_role.values():
            seen.update(dict.fromkeys(states))
        return tuple(seen)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(self.sources_by_role)


_PRE_TRANSIT = (S.PENDING_PAYMENT, S.PAID, S.ACCEPTED)

TRANSITIONS: dict[str, TransitionSpec] = {
    spec.name: spec
    for spec in (
        TransitionSpec("mark_paid", S.PAID, {Role.SYSTEM: (S.PENDING_PAYMENT,)}, OrderAction.PAID),
        TransitionSpec("accept", S.ACCEPTED, {Role.SELLER: (S.PAID,)}, OrderAction.ACCEPTED),
        TransitionSpec(
            "dispatch", S.IN_TRANSIT, {Role.SELLER: (S.ACCEPTED,)}, OrderAction.DISPATCHED
        ),
        TransitionSpec(
            "confirm_delivery",
            S.DELIVERED,
            # the system: the courier's ``delivered`` webhook (aventide/orders/provider_events.py)
            {Role.RECIPIENT: (S.IN_TRANSIT,), Role.SYSTEM: (S.IN_TRANSIT,)},
            OrderAction.DELIVERED,
        ),
        TransitionSpec(
            "complete", S.COMPLETED, {Role.SYSTEM: (S.DELIVERED,)}, OrderAction.COMPLETED
        ),
        TransitionSpec(
            "cancel",
            S.CANCELLED,
            {
                Role.BUYER: (S.PENDING_PAYMENT, S.PAID),
                Role.SELLER: (S.PAID, S.ACCEPTED),
                Role.SYSTEM: (S.PENDING_PAYMENT,),
                Role.STAFF_L2: _PRE_TRANSIT,
                Role.STAFF_L3: _PRE_TRANSIT,
            },
            OrderAction.CANCELLED,
        ),
        TransitionSpec(
            "force_complete",
            S.FORCE_COMPLETED,
            {Role.STAFF_L3: (S.IN_TRANSIT, S.DELIVERED)},
            OrderAction.FORCE_COMPLETED,
        ),
    )
}

FORCE_COMPLETE_REASONS = (
    ("courier_confirmed_offline", "Courier confirmed delivery outside the app"),
    ("recipient_unreachable", "Recipient unreachable after delivery attempts"),
    ("platform_fault", "Platform fault blocked the confirmation"),
    ("other_documented", "Other, documented in the evidence"),
)


def _t(name: str) -> dict[str, Any]:
    spec = TRANSITIONS[name]
    return {"field": "status", "source": list(spec.sources), "target": spec.target}


class Listing(models.Model):
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="listings"
    )
    country_code = models.CharField(max_length=2, db_index=True)
    title = models.CharField(max_length=140)
    price_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["country_code", "active", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gt=0), name="listing_price_positive")
        ]

    def __str__(self) -> str:
        return f"listing:{self.pk} {self.title}"


class Order(ConcurrentTransitionMixin, models.Model):
    country_code = models.CharField(max_length=2, db_index=True)
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_bought"
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_sold"
    )
    recipient_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders_received",
    )
    recipient_anon_id = models.UUIDField(null=True, blank=True, unique=True)
    recipient_name = models.CharField(max_length=120)
    recipient_email = models.EmailField(blank=True, help_text="PII: parties and scoped staff only")
    recipient_phone = models.CharField(
        max_length=20, blank=True, help_text="E.164. PII: parties and scoped staff only"
    )
    recipient_address = models.CharField(
        max_length=300, blank=True, help_text="Delivery address. PII: the courier needs it"
    )
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    status = FSMField(
        default=OrderStatus.PENDING_PAYMENT,
        choices=OrderStatus.choices,
        protected=True,
        db_index=True,
    )
    #: The buyer's ``Idempotency-Key`` of the create request, and a digest of its body: the
    #: same key returns this order; the same key with another body is refused.
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    request_fingerprint = models.CharField(max_length=64, blank=True)
    payment_reference = models.CharField(max_length=120, blank=True)
    payment_status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.NONE
    )
    #: the pay requests made so far (each is one provider payment, key ``order:<id>:payment:<n>``)
    payment_attempts = models.PositiveSmallIntegerField(default=0)
    #: why the last payment failed, a stable code the buyer's client can show (see selectors)
    payment_failure_code = models.CharField(max_length=64, blank=True)
    shipment_reference = models.CharField(max_length=120, blank=True)
    refund_reference = models.CharField(max_length=120, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    force_reason_code = models.CharField(max_length=40, blank=True)
    force_evidence_refs = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "delivered_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="order_amount_positive"),
            models.CheckConstraint(
                condition=Q(recipient_user__isnull=True) | Q(recipient_anon_id__isnull=True),
                name="order_one_recipient_kind",
            ),
            models.CheckConstraint(
                condition=~Q(buyer=models.F("seller")), name="order_buyer_not_seller"
            ),
            models.UniqueConstraint(
                fields=["buyer", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="order_buyer_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"order:{self.pk}"

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        """Reload from the database, thread-safely.

        django-fsm-2's ``FSMModelMixin.refresh_from_db`` turns the status field's
        ``protected`` flag off and back on -- a flag shared by every instance in every thread,
        so a concurrent transition in another thread could see it off, or this refresh see it
        back on ("Direct status modification is not allowed"). Here the protected value is
        dropped from this instance only (the descriptor refuses a write only when the instance
        already holds a value), then Django's plain refresh runs.
        """
        if fields is None or "status" in fields:
            self.__dict__.pop("status", None)
        models.Model.refresh_from_db(self, using=using, fields=fields, from_queryset=from_queryset)
        self._update_initial_state()

    # --- transitions: guard and assign only -------------------------------------------------

    @transition(**_t("mark_paid"))
    def mark_paid(self, *, at: datetime, payment_reference: str) -> None:
        self.paid_at = at
        self.payment_reference = payment_reference
        self.payment_status = PaymentStatus.CAPTURED
        self.payment_failure_code = ""

    @transition(**_t("accept"))
    def accept(self, *, at: datetime) -> None:
        self.accepted_at = at

    @transition(**_t("dispatch"))
    def dispatch(self, *, at: datetime) -> None:
        self.dispatched_at = at

    @transition(**_t("confirm_delivery"))
    def confirm_delivery(self, *, at: datetime) -> None:
        self.delivered_at = at

    @transition(**_t("complete"))
    def complete(self, *, at: datetime) -> None:
        self.closed_at = at

    @transition(**_t("cancel"))
    def cancel(self, *, at: datetime, reason: str) -> None:
        self.closed_at = at
        self.cancel_reason = reason

    @transition(**_t("force_complete"))
    def force_complete(self, *, at: datetime, reason_code: str, evidence_refs: list[str]) -> None:
        self.closed_at = at
        self.force_reason_code = reason_code
        self.force_evidence_refs = list(evidence_refs)

    # --- predicates ------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        return self.status in {S.COMPLETED, S.CANCELLED, S.FORCE_COMPLETED}

    #: the fields a transition may change (save(update_fields=...)).
    TRANSITION_FIELDS: ClassVar[tuple[str, ...]] = (
        "status",
        "updated_at",
        "paid_at",
        "payment_reference",
        "payment_status",
        "payment_failure_code",
        "accepted_at",
        "dispatched_at",
        "delivered_at",
        "closed_at",
        "cancel_reason",
        "force_reason_code",
        "force_evidence_refs",
    )


class DeliveryAttempt(models.Model):
    """A delivery the courier tried and could not complete (its ``attempt_failed`` webhook):
    evidence for support, and the moment messaging opens the order's chat."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="delivery_attempts")
    #: the courier's event id: a redelivery under the same id records nothing new
    provider_event_id = models.CharField(max_length=255, unique=True)
    shipment_reference = models.CharField(max_length=120, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"delivery_attempt:{self.pk} order:{self.order_id}"
