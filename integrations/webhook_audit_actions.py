"""The audit actions of inbound webhooks (see ``audit.actions``).

``integration.webhook_received`` when an event is stored the first time (never for a
duplicate), ``integration.webhook_processed`` when its processing ends (outcome ``processed``
or ``ignored``). Both are system (L0) events carrying provider, event id and type only: no
payload, so no PII.
"""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class WebhookAction(AuditAction):
    RECEIVED = "integration.webhook_received"
    PROCESSED = "integration.webhook_processed"
