"""Domain errors of the realtime app (subclasses of DomainError, each with a stable code;
listed in docs/api/errors.md)."""

from __future__ import annotations

from http import HTTPStatus

from aventide.core.errors import DomainError


class InvalidCursor(DomainError):
    """``since`` is not a cursor this log ever handed out: not a non-negative integer, or
    ahead of the newest event. The client should resync (full reload) and take the cursor
    from the catchup answer."""

    code = "INVALID_CURSOR"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The cursor is malformed or ahead of the event log."


class CursorExpired(DomainError):
    """Events after ``since`` were removed by retention: the client resyncs (full reload of
    its state) and continues from the ``nextCursor`` of a catchup without ``since``."""

    code = "CURSOR_EXPIRED"
    status = HTTPStatus.GONE
    default_message = "The cursor is older than the event log's retention; resync."


class EventImmutable(DomainError):
    """A programming error: realtime events and inbox rows are never changed."""

    code = "REALTIME_EVENT_IMMUTABLE"
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message = "Realtime events are immutable."


class PublishOutsideTransaction(RuntimeError):
    """``publish`` must run inside the caller's transaction (a programming error)."""


# --- stream authorization (WebSocket subscribe; docs/operations/realtime.md) ------------------


class ForbiddenStream(DomainError):
    """A stream kind this identity may never use (an anonymous recipient asking for
    ``staff:AR``, a party asking for ``staff:``, any ``conversation:`` stream while no app
    authorizes that kind)."""

    code = "FORBIDDEN_STREAM"
    status = HTTPStatus.FORBIDDEN
    default_message = "This identity cannot subscribe to this kind of stream."


class NotRoomMember(DomainError):
    """A kind this identity may use, but it is not a member of this one (another buyer's
    order, another country's staff queue). A stream that does not exist answers the same."""

    code = "NOT_ROOM_MEMBER"
    status = HTTPStatus.FORBIDDEN
    default_message = "You are not a member of this stream."


class AckUnknown(DomainError):
    """An ``ack`` frame of a kind no app registered a handler for."""

    code = "UNKNOWN_ACK"
    status = HTTPStatus.BAD_REQUEST
    default_message = "No handler for this kind of acknowledgement."


class SendUnknown(DomainError):
    """A ``send`` frame of a kind no app registered a handler for."""

    code = "UNKNOWN_SEND"
    status = HTTPStatus.BAD_REQUEST
    default_message = "No handler for this kind of send."


__all__ = [
    "AckUnknown",
    "CursorExpired",
    "DomainError",
    "EventImmutable",
    "ForbiddenStream",
    "InvalidCursor",
    "NotRoomMember",
    "PublishOutsideTransaction",
    "SendUnknown",
]
