"""Domain errors of the messaging app (stable codes; see docs/api/errors.md)."""

from __future__ import annotations

from aventide.core.errors import (
    Conflict,
    DomainError,
    IdempotencyKeyReused,
    NotFound,
    RateLimited,
    ValidationFailed,
)


class ConversationNotFound(NotFound):
    """Unknown conversation, or one the caller is not a member of (same answer: no leak)."""

    code = "NOT_FOUND_OR_NO_ACCESS"
    default_message = "Conversation not found."


class ConversationNotActive(Conflict):
    code = "CONVERSATION_NOT_ACTIVE"
    default_message = "This conversation is not open: activate it with a reason first."


class ConversationFrozen(Conflict):
    code = "CONVERSATION_FROZEN"
    default_message = "This conversation is frozen: it can be read but not written to."


class ConversationClosed(Conflict):
    code = "CONVERSATION_CLOSED"
    default_message = "This conversation is closed."


class MessageBlocked(DomainError):
    code = "MESSAGE_BLOCKED"
    status = 422
    default_message = "This message cannot be sent: it breaks the chat rules."


class MessageIdReused(IdempotencyKeyReused):
    default_message = "This clientMessageId was already used for another message."


class InvalidAck(ValidationFailed):
    code = "INVALID_ACK"
    default_message = "The acknowledgement is not valid for this conversation."


class ChatRateLimited(RateLimited):
    default_message = "Too many messages: wait a moment before sending again."


class MessageNotFound(NotFound):
    """A seq the member's conversation does not have (the conversation itself is visible)."""

    code = "MESSAGE_NOT_FOUND"
    default_message = "This conversation has no message with that seq."


class MessageNotReportable(DomainError):
    code = "MESSAGE_NOT_REPORTABLE"
    status = 422
    default_message = "This message cannot be reported."


class ReportNotFound(NotFound):
    code = "NOT_FOUND"
    default_message = "Report not found."


class MessageImmutable(DomainError):
    """Raised by the model layer when code tries to change or delete a message (a bug)."""

    code = "MESSAGE_IMMUTABLE"
    status = 500
    default_message = "Messages are immutable."


__all__ = [
    "ChatRateLimited",
    "ConversationClosed",
    "ConversationFrozen",
    "ConversationNotActive",
    "ConversationNotFound",
    "DomainError",
    "InvalidAck",
    "MessageBlocked",
    "MessageIdReused",
    "MessageImmutable",
    "MessageNotFound",
    "MessageNotReportable",
    "ReportNotFound",
    "ValidationFailed",
]
