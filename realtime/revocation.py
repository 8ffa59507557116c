"""Losing membership stops a stream at once: re-authorization requests to open sockets.

- `principal_recheck(key)`: every socket of ``user:<id>`` / ``anon:<uuid>`` re-reads its
  principal (user active, session not revoked, identity usable, staff scope as it is now)
  and re-authorizes each of its subscriptions. Accounts calls it (through the
  ``on_principal_change`` listener realtime registers at ready) after a logout, a
  deactivation, a staff level/scope change or an identity revocation commits.
- `stream_recheck(stream)`: every socket subscribed to ``stream`` re-runs its authorizer (an
  app removed a participant, an order changed hands).

Both send ``rt.recheck`` through the channel layer after the caller's transaction commits
(at once outside one). A socket that lost a stream gets ``{"type": "unsubscribed", "stream":
.., "reason": "NOT_ROOM_MEMBER"}``; one whose principal can no longer act gets
``SESSION_REVOKED`` and close 4401. The channel layer may drop a message: every socket also
re-authorizes every ``REALTIME_WS_REAUTH_SECONDS`` (60 s), the documented upper bound.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from aventide.core.logging import get_logger
from realtime.contracts import parse_stream, principal_groups_of_key

logger = get_logger("aventide.realtime")


def _send(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for group in groups:
            await layer.group_send(group, message)

    try:
        async_to_sync(send_all)()
    except Exception:  # noqa: BLE001 - transport only: the periodic re-authorization backs it
        logger.warning("REALTIME_RECHECK_SEND_FAILED", exc_info=True)


def principal_recheck(*, key: str) -> None:
    """Re-authorize every open socket of ``key`` (``user:<id>`` or ``anon:<uuid>``) once the
    current transaction commits."""
    groups = principal_groups_of_key(key)
    transaction.on_commit(lambda: _send(groups, {"type": "rt.recheck"}), robust=True)


def stream_recheck(*, stream: str) -> None:
    """Re-authorize every socket subscribed to ``stream`` once the current transaction
    commits (``stream`` must be a valid stream name)."""
    parsed = parse_stream(stream)
    if parsed is None:
        raise ValueError(f"not a stream name: {stream!r}")
    message = {"type": "rt.recheck", "stream": parsed.name}
    transaction.on_commit(lambda: _send([parsed.group], message), robust=True)


def on_principal_change(key: str) -> None:
    """The accounts listener (already after commit)."""
    _send(principal_groups_of_key(key), {"type": "rt.recheck"})
