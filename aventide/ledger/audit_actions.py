"""The audit actions the ledger records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class LedgerAction(AuditAction):
    TRANSACTION_POSTED = "ledger.transaction_posted"
