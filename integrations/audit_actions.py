"""The audit actions the integrations hub records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class IntegrationAction(AuditAction):
    INTENT = "integration.intent"
    RESULT = "integration.result"
    DLQ_REPLAYED = "integration.dlq_replayed"
    DLQ_DISCARDED = "integration.dlq_discarded"
