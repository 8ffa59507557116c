"""Every write of the order chat (one use-case frame each; docs/development/recipe.md).

Other apps import this module (the public surface): ``messaging.services.message_send`` etc.
"""

from messaging.services.conversations import (
    CloseReport,
    conversation_activate,
    conversation_close,
    conversation_freeze,
    conversation_system_activate,
    conversation_unfreeze,
    conversations_close_due,
)
from messaging.services.receipts import (
    Receipt,
    ReconcileState,
    conversation_reconcile,
    conversation_reconcile_request,
    message_ack,
    message_ack_request,
)
from messaging.services.send import SendResult, message_send

__all__ = [
    "CloseReport",
    "Receipt",
    "ReconcileState",
    "SendResult",
    "conversation_activate",
    "conversation_close",
    "conversation_freeze",
    "conversation_reconcile",
    "conversation_reconcile_request",
    "conversation_system_activate",
    "conversation_unfreeze",
    "conversations_close_due",
    "message_ack",
    "message_ack_request",
    "message_send",
]
