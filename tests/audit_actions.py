"""Audit actions that only tests record (the audit app's own tests record arbitrary events).

Registered by tests/conftest.py, exactly like an app registers its own at import time."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class TestOnlyAction(AuditAction):
    __test__ = False  # not a pytest test class

    A_B = "a.b"
    X_Y = "x.y"
    ORDER_TOUCHED = "order.touched"
    ORDER_FAST = "order.fast"
    ORDER_SLOW = "order.slow"
    ORDER_FIRST = "order.first"
    ROUND_TRIP = "round.trip"
    JOB_RAN = "job.ran"
    CONTENTTYPE_LOOKED_AT = "contenttype.looked_at"
    RECIPIENT_INVITED = "recipient.invited"
    TEST_SCOPE_CASE = "test.scope_case"
