"""Domain errors of the audit app (subclasses of DomainError, each with a stable code)."""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import DomainError


class AuditImmutable(DomainError):
    """Something tried to change or remove an audit row (events and seals are append-only)."""

    code = "AUDIT_IMMUTABLE"
    status = HTTPStatus.CONFLICT
    default_message = "Audit records are append-only (WORM): they cannot be changed or deleted."


class AuditTargetInvalid(DomainError):
    """``record()`` got a target it cannot turn into (target_type, target_id)."""

    code = "AUDIT_TARGET_INVALID"
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message = "The audit target is not valid."


__all__ = ["AuditImmutable", "AuditTargetInvalid", "DomainError"]
