"""The notification bridge: nobody is left blind (filled by the bridge work of issue 14).

``on_activity`` runs inside the send/activation transaction and decides, for each other
party, whether a notice goes out through the integrations outbox.
"""

from __future__ import annotations

from aventide.accounts.contracts import UseCase
from messaging.models import Conversation


def on_activity(
    *,
    uc: UseCase,
    conversation: Conversation,
    trigger: str,
    seq: int,
    sender_key: str,
    online: frozenset[str] | None = None,
) -> None:
    """Decide and record, per other party, how it learns about ``trigger`` at ``seq``."""
    return None
