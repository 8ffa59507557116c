"""Domain errors of the ledger."""

from __future__ import annotations

from aventide.core.errors import Conflict, DomainError, IdempotencyKeyReused, NotFound

__all__ = [
    "EscrowInsufficient",
    "IdempotencyKeyReused",
    "LedgerInvariantViolation",
    "MoneyCapExceeded",
    "SnapshotMissing",
]


class LedgerInvariantViolation(DomainError):
    """A posting that can never be valid (bad amounts, mixed currencies, not summing to 0)."""

    code = "LEDGER_INVALID_POSTING"
    status = 400
    default_message = "The ledger posting is not valid."


class EscrowInsufficient(Conflict):
    code = "ESCROW_INSUFFICIENT"
    default_message = "The order's escrow does not hold enough to move this amount."


class MoneyCapExceeded(Conflict):
    code = "MONEY_CAP_EXCEEDED"
    default_message = "Released, refunded and credited money cannot exceed what was captured."


class SnapshotMissing(NotFound):
    code = "ORDER_SNAPSHOT_MISSING"
    default_message = "The order has no captured payment."
