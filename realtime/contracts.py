"""The realtime app's small public vocabulary: stream names, audience keys, group names and
the event frame. Shared by the event log (services/selectors), the WebSocket consumer and
the apps that publish (orders, messaging, support) -- nothing here touches the database.

Streams (what a client subscribes to):
    ``user:<id>``, ``anon:<uuid>``, ``order:<id>``, ``conversation:<id>``, ``staff:<CC>``

Audience keys (who an event is written to; one inbox row per key -- fan-out on write):
    ``user:<id>`` (a registered party or staff member), ``anon:<uuid>`` (an anonymous
    recipient), ``staff:<CC>`` (the country's staff queue: every staff member whose scope
    includes CC reads it).

The cursor is ``realtime.Event.id`` (bigserial); the same cursor works for WebSocket
``since`` and REST catchup.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aventide.core.principal import Principal

STREAM_KINDS: tuple[str, ...] = ("user", "anon", "order", "conversation", "staff")

_STREAM_RE = re.compile(
    r"^(?:(?P<user>user):(?P<user_id>[1-9][0-9]{0,18})"
    r"|(?P<anon>anon):(?P<anon_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"|(?P<order>order):(?P<order_id>[1-9][0-9]{0,18})"
    r"|(?P<conversation>conversation):(?P<conversation_id>[1-9][0-9]{0,18})"
    r"|(?P<staff>staff):(?P<country>[A-Z]{2}))$"
)

#: The longest stream name (``anon:`` + a 36-char uuid).
STREAM_MAX_LENGTH = 41


@dataclass(frozen=True, slots=True)
class Stream:
    kind: str
    key: str  # the part after the colon: an id, a uuid or a country code

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"

    @property
    def group(self) -> str:
        """The channel-layer group of this stream (Channels allows ``[a-zA-Z0-9._-]``)."""
        return "rt." + self.name.replace(":", ".")


def parse_stream(value: object) -> Stream | None:
    """The stream named by ``value``, or None when it is not a well-formed stream name."""
    if not isinstance(value, str) or len(value) > STREAM_MAX_LENGTH:
        return None
    match = _STREAM_RE.match(value)
    if match is None:
        return None
    kind = next(k for k in STREAM_KINDS if match.group(k))
    key = value.split(":", 1)[1]
    return Stream(kind=kind, key=key)


def user_key(user_id: int) -> str:
    return f"user:{int(user_id)}"


def anon_key(anon_id: uuid.UUID | str) -> str:
    return f"anon:{uuid.UUID(str(anon_id))}"


def staff_key(country_code: str) -> str:
    return f"staff:{country_code.upper()}"


def audience_keys(principal: Principal) -> list[str]:
    """The inbox keys whose rows ``principal`` reads: its own key, plus, for staff, the
    queue of every country in its scope. The system principal reads no inbox."""
    if principal.is_anonymous_identity:
        return [anon_key(principal.id)]
    if principal.is_staff:
        return [user_key(int(principal.id))] + [staff_key(c) for c in sorted(principal.countries)]
    if principal.is_user:
        return [user_key(int(principal.id))]
    return []


def principal_group(principal: Principal) -> str:
    """A channel-layer group for one principal's sockets (revocations, presence pings)."""
    return "rt.p." + principal.pk.replace(":", ".")


def event_frame(
    *, event_id: int, stream: str, event_type: str, data: dict[str, Any], created_at: datetime
) -> dict[str, Any]:
    """The one shape of an event on the wire, WebSocket and REST catchup alike
    (ARCHITECTURE: ``{"type":"event","id":<cursor>,"stream":..,"event":..,"data":..}``)."""
    return {
        "type": "event",
        "id": event_id,
        "stream": stream,
        "event": event_type,
        "data": data,
        "createdAt": created_at.isoformat().replace("+00:00", "Z"),
    }


# --- registries other apps fill at AppConfig.ready() ---------------------------------------
# (ARCHITECTURE: lower layers stay ignorant of higher ones through small registries.)

#: ``authorizer(principal, stream)`` returns when ``principal`` may subscribe to ``stream``,
#: raises ``realtime.errors.NotRoomMember`` (a kind it may use, not a member of this one) or
#: ``realtime.errors.ForbiddenStream`` (a kind it may never use). Sync: it may query the
#: database (the consumer calls it through ``database_sync_to_async``). It must answer a
#: stream that does not exist exactly like one the principal is not a member of.
StreamAuthorizer = Callable[[Principal, Stream], None]

#: ``handler(principal, data)`` for a client's ``{"type": "ack", "kind": <kind>, ...}`` frame
#: (``data`` = the frame without ``type``/``kind``/``ref``). Sync, may write (it runs in its
#: own use-case frame); returns a small JSON-safe dict echoed in the ``acked`` reply (or None)
#: and raises a DomainError to refuse (its code goes back in an error frame).
AckHandler = Callable[[Principal, dict[str, Any]], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class Sent:
    """What a send handler answers: ``data`` goes back in the ``sent`` reply; ``replayed``
    says it is the original answer to an earlier frame or request with the same client id
    (a retry), not a new write."""

    data: dict[str, Any]
    replayed: bool = False


#: ``handler(principal, data)`` for a client's ``{"type": "send", "kind": <kind>, ...}`` frame
#: (``data`` = the frame without ``type``/``kind``/``ref``): a write the client would
#: otherwise make over REST (messaging: ``message.send``). Same rules as an ``AckHandler``:
#: sync, runs in its own use-case frame, raises a DomainError to refuse. It must call the
#: service its REST endpoint calls and render what that endpoint renders.
SendHandler = Callable[[Principal, dict[str, Any]], Sent]

_STREAM_AUTHORIZERS: dict[str, StreamAuthorizer] = {}
_ACK_HANDLERS: dict[str, AckHandler] = {}
_SEND_HANDLERS: dict[str, SendHandler] = {}
_FRAME_KIND_RE = re.compile(r"^[a-z][a-z0-9_.]{0,47}$")

#: Stream kinds realtime authorizes itself (``user``, ``anon``, ``staff``); the others
#: (``order``, ``conversation``) belong to the app that owns the rooms.
BUILTIN_STREAM_KINDS: frozenset[str] = frozenset({"user", "anon", "staff"})


def register_stream_authorizer(kind: str, authorizer: StreamAuthorizer) -> None:
    """Let the app owning ``kind`` (``order``, ``conversation``) decide who may subscribe.
    One authorizer per kind; registering the same function again is a no-op."""
    if kind not in STREAM_KINDS or kind in BUILTIN_STREAM_KINDS:
        raise ValueError(f"{kind!r} is not a stream kind an app can authorize")
    current = _STREAM_AUTHORIZERS.get(kind)
    if current is not None and current is not authorizer:
        raise ValueError(f"stream kind {kind!r} already has an authorizer")
    _STREAM_AUTHORIZERS[kind] = authorizer


def stream_authorizer(kind: str) -> StreamAuthorizer | None:
    """The authorizer an app registered for ``kind``, or None (then the kind is forbidden)."""
    return _STREAM_AUTHORIZERS.get(kind)


def _register(registry: dict[str, Any], frame: str, kind: str, handler: object) -> None:
    if not _FRAME_KIND_RE.match(kind):
        raise ValueError(f"{frame} kind must be lower.dotted: {kind!r}")
    current = registry.get(kind)
    if current is not None and current is not handler:
        raise ValueError(f"{frame} kind {kind!r} already has a handler")
    registry[kind] = handler


def register_ack_handler(kind: str, handler: AckHandler) -> None:
    """Handle ``{"type": "ack", "kind": <kind>, ...}`` frames (messaging: ``message.delivered``,
    ``message.read``). One handler per kind; registering the same function again is a no-op."""
    _register(_ACK_HANDLERS, "ack", kind, handler)


def ack_handler(kind: str) -> AckHandler | None:
    return _ACK_HANDLERS.get(kind)


def register_send_handler(kind: str, handler: SendHandler) -> None:
    """Handle ``{"type": "send", "kind": <kind>, ...}`` frames (messaging: ``message.send``).
    One handler per kind; registering the same function again is a no-op."""
    _register(_SEND_HANDLERS, "send", kind, handler)


def send_handler(kind: str) -> SendHandler | None:
    return _SEND_HANDLERS.get(kind)


def principal_groups_of_key(key: str) -> list[str]:
    """The `principal_group` names of every socket an audience key (``user:<id>``,
    ``anon:<uuid>``) can have open: a registered user may be connected as a party or as staff
    (the kind is decided when the ticket is redeemed), so a ``user:`` key names both."""
    kind, _, ident = key.partition(":")
    if kind == "user":
        return [f"rt.p.user.{int(ident)}", f"rt.p.staff.{int(ident)}"]
    if kind == "anon":
        return [f"rt.p.anonymous.{uuid.UUID(ident)}"]
    raise ValueError(f"not a principal audience key: {key!r}")
