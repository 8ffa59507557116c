"""Domain errors of the integrations app (subclasses of DomainError, each with a stable code).

Codes recorded on jobs and attempts (not raised to clients) are constants here too:
``CIRCUIT_OPEN``, ``LEASE_EXPIRED``, ``MAX_ATTEMPTS_EXCEEDED``, ``EXECUTOR_ERROR``,
``UNKNOWN_PROVIDER``.
"""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import DomainError, IdempotencyKeyReused

CIRCUIT_OPEN = "CIRCUIT_OPEN"
LEASE_EXPIRED = "LEASE_EXPIRED"
EXECUTOR_ERROR = "EXECUTOR_ERROR"
UNKNOWN_PROVIDER = "UNKNOWN_PROVIDER"


class JobNotFound(DomainError):
    code = "INTEGRATION_JOB_NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    default_message = "Integration job not found."


class JobNotInDlq(DomainError):
    code = "INTEGRATION_JOB_NOT_DEAD"
    status = HTTPStatus.CONFLICT
    default_message = "Only jobs in the dead-letter queue can be replayed or discarded."


class DiscardReasonRequired(DomainError):
    code = "DISCARD_REASON_REQUIRED"
    status = HTTPStatus.BAD_REQUEST
    default_message = "A reason is required to discard a job."


class IntegrationPayloadInvalid(DomainError):
    code = "INTEGRATION_PAYLOAD_INVALID"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The integration job is not valid."


__all__ = [
    "CIRCUIT_OPEN",
    "EXECUTOR_ERROR",
    "LEASE_EXPIRED",
    "UNKNOWN_PROVIDER",
    "DiscardReasonRequired",
    "DomainError",
    "IdempotencyKeyReused",
    "IntegrationPayloadInvalid",
    "JobNotFound",
    "JobNotInDlq",
]


class DlqActionForbidden(DomainError):
    code = "DLQ_ACTION_FORBIDDEN"
    status = HTTPStatus.FORBIDDEN
    default_message = "Only ops leads and L3 staff can replay or discard integration jobs."


__all__ += ["DlqActionForbidden"]
