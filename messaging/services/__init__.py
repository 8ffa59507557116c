"""Every write of the order chat (one use-case frame each; docs/development/recipe.md).

Other apps import this module (the public surface): ``messaging.services.message_send`` etc.
"""

from messaging.services.conversations import (
    CloseReport,
    OverdueReport,
    conversation_activate,
    conversation_close,
    conversation_freeze,
    conversation_system_activate,
    conversation_unfreeze,
    conversations_activate_overdue,
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
from messaging.services.reports import (
    ReportReason,
    ReportResult,
    conversation_report,
    report_resolve,
)
from messaging.services.send import (
    SendResult,
    message_send,
    message_send_frame,
    render_send,
    send_input,
)
from messaging.services.transcripts import Transcript, conversation_transcript

__all__ = [
    "CloseReport",
    "OverdueReport",
    "SendResult",
    "conversation_activate",
    "conversation_close",
    "conversation_freeze",
    "conversation_system_activate",
    "conversation_unfreeze",
    "conversations_activate_overdue",
    "conversations_close_due",
    "message_send",
]
# Abuse reports and transcript export.
__all__ += [
    "ReportReason",
    "ReportResult",
    "Transcript",
    "conversation_report",
    "conversation_transcript",
    "report_resolve",
]
# Receipts and reconcile.
__all__ += [
    "Receipt",
    "ReconcileState",
    "conversation_reconcile",
    "conversation_reconcile_request",
    "message_ack",
    "message_ack_request",
]
# The send's one answer (REST and the realtime ``send`` frame).
__all__ += ["message_send_frame", "render_send", "send_input"]
