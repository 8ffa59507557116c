"""Models of the integrations hub, one module per topic (Django finds them through here).

- ``jobs``: the outbox (``Job``, ``Attempt``) and the circuit breakers' durable state.
- ``webhooks``: inbound provider events (``WebhookEvent``).
"""

from integrations.models.jobs import *  # noqa: F403
from integrations.models.webhooks import *  # noqa: F403
