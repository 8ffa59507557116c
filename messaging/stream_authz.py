"""Who may subscribe to ``conversation:<id>`` (registered with realtime in ``MessagingConfig``).

Members: the order's buyer, seller and recipient (its user or its one anonymous identity) and
staff whose scope includes the conversation's country -- the rule of
``selectors.conversation_for``. Everyone else, and ids that name no conversation, get
``NOT_ROOM_MEMBER``: the answer never tells which conversations exist.
"""

from __future__ import annotations

from aventide.core.errors import DomainError
from aventide.core.principal import Principal
from messaging import selectors
from realtime.contracts import Stream
from realtime.errors import NotRoomMember


def authorize_conversation_stream(principal: Principal, stream: Stream) -> None:
    """Allow members and in-scope staff; ``NOT_ROOM_MEMBER`` otherwise. 1 query."""
    try:
        conversation_id = int(stream.key)
    except ValueError:
        raise NotRoomMember() from None
    try:
        selectors.conversation_for(principal, conversation_id)
    except DomainError:
        raise NotRoomMember() from None
