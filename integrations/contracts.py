"""The integrations hub's public surface for other apps (import-linter lets apps import
``integrations.services``, ``selectors``, ``errors`` and this module):

- the outbox: ``enqueue`` (in ``integrations.services``);
- inbound webhooks: ``register_handler(provider, event_type, fn)``, ``InboundEvent``,
  ``RetryLater`` (``integrations.webhook_services``);
- job hooks: ``register_renderer``, ``register_result_listener``, ``JobOutcome``
  (``integrations.hooks``).

Register at ``AppConfig.ready()``. docs/operations/integrations.md describes each.
"""

from __future__ import annotations

from integrations.hooks import (
    JobOutcome,
    Renderer,
    ResultListener,
    register_renderer,
    register_result_listener,
)
from integrations.providers.base import (
    JobObsolete,
    PermanentProviderError,
    TransientProviderError,
)
from integrations.webhook_services import InboundEvent, RetryLater, WebhookHandler, register_handler

__all__ = [
    "InboundEvent",
    "JobObsolete",
    "JobOutcome",
    "PermanentProviderError",
    "Renderer",
    "ResultListener",
    "RetryLater",
    "TransientProviderError",
    "WebhookHandler",
    "register_handler",
    "register_renderer",
    "register_result_listener",
]
