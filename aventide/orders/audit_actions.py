"""The audit actions orders records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class OrderAction(AuditAction):
    CREATED = "order.created"
    PAID = "order.paid"
    ACCEPTED = "order.accepted"
    DISPATCHED = "order.dispatched"
    DELIVERED = "order.delivered"
    COMPLETED = "order.completed"
    CANCELLED = "order.cancelled"
    FORCE_COMPLETED = "order.force_completed"
    RECIPIENT_LINK_REISSUED = "order.recipient_link_reissued"
    PAYMENT_REQUESTED = "order.payment_requested"
    PAYMENT_FAILED = "order.payment_failed"
    #: money the provider captured that the order cannot keep (cancelled meanwhile, or a
    #: second capture): sent back to the card
    CAPTURE_RETURNED = "order.capture_returned"
    REFUND_CONFIRMED = "order.refund_confirmed"
    SHIPMENT_CREATED = "order.shipment_created"
    DELIVERY_ATTEMPT_FAILED = "order.delivery_attempt_failed"


@register
class ListingAction(AuditAction):
    CREATED = "listing.created"
    DEACTIVATED = "listing.deactivated"
    REACTIVATED = "listing.reactivated"
