"""Domain errors of the realtime app (subclasses of DomainError, each with a stable code)."""

from http import HTTPStatus

from aventide.core.errors import DomainError

__all__ = [
    "AckUnknown",
    "DomainError",
    "ForbiddenStream",
    "NotRoomMember",
]


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
