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
