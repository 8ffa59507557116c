"""Errors of the inbound webhook endpoint (each a DomainError with a stable code).

Kept apart from ``integrations/errors.py`` (the outbox's) so the two halves of the hub merge
without conflicts; ``integrations.errors`` may re-export them.
"""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import DomainError, NotFound

__all__ = ["WebhookProviderUnknown", "WebhookSignatureInvalid"]


class WebhookSignatureInvalid(DomainError):
    """The signature header is missing, malformed, stale or matches no configured secret.
    Nothing was stored. The reason stays in the logs (never in the response)."""

    code = "WEBHOOK_SIGNATURE_INVALID"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The webhook signature is missing, invalid or too old."


class WebhookProviderUnknown(NotFound):
    """No such webhook provider: answers exactly like an unknown path (404 NOT_FOUND)."""
