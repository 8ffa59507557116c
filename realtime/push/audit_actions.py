"""The audit actions Web Push records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class PushAction(AuditAction):
    SUBSCRIBED = "push.subscribed"
    UNSUBSCRIBED = "push.unsubscribed"
    #: the push service answered 404/410: the browser dropped the subscription (evidence)
    SUBSCRIPTION_REMOVED = "push.subscription_removed"
