"""The audit actions messaging records (see ``audit.actions``).

Message audit rows carry the body's SHA-256 digest, never the text."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class ConversationAction(AuditAction):
    CREATED = "conversation.created"
    ACTIVATED = "conversation.activated"
    FROZEN = "conversation.frozen"
    UNFROZEN = "conversation.unfrozen"
    CLOSED = "conversation.closed"
    TRANSCRIPT_EXPORTED = "conversation.transcript_exported"
    REPORTED = "conversation.reported"
    REPORT_RESOLVED = "conversation.report_resolved"


@register
class MessageAction(AuditAction):
    SENT = "message.sent"
    REDACTED = "message.redacted"
    BLOCKED = "message.blocked"
    STRIKE = "message.strike"
