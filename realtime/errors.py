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


__all__ = [
    "CursorExpired",
    "DomainError",
    "EventImmutable",
    "InvalidCursor",
    "PublishOutsideTransaction",
]
