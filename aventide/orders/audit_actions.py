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


@register
class ListingAction(AuditAction):
    CREATED = "listing.created"
    DEACTIVATED = "listing.deactivated"
    REACTIVATED = "listing.reactivated"
