"""The WebSocket ``/ws/realtime/``: one thin async consumer per socket.

Protocol (docs/api/realtime-websocket.md; operations: docs/operations/realtime.md):

1. Authenticate with a single-use ticket (``POST /api/auth/ws-token``) -- in the first frame
   ``{"type": "auth", "ticket": ...}`` or in ``Sec-WebSocket-Protocol: aventide.v1,
   ticket.<ticket>`` -- never in the URL. Redeeming re-reads the user/session/identity.
   No valid ticket within ``REALTIME_WS_AUTH_TIMEOUT_SECONDS``: error ``AUTH_REQUIRED``,
   close 4401.
2. ``{"type": "subscribe", "stream": "order:42", "since": <cursor?>}``: the stream's
   authorizer decides (``realtime.authz``); ``subscribed``, or an error frame
   ``FORBIDDEN_STREAM`` / ``NOT_ROOM_MEMBER``. With ``since``: the missed events from the log
   first, then live. The socket joins the stream's group *before* it reads the log and drops
   every live event whose id is <= the last one it sent on that stream: no gap, no duplicate
   at the handover.
3. Live events (``rt.event`` from ``realtime.services.publish``) reach the socket only if
   one of its audience keys is in the event's audience and it subscribed to the stream.
4. ``ping`` -> ``pong``; ``ack`` -> the handler an app registered for its ``kind``
   (``acked``); ``send`` -> likewise (``sent``: a write the client could make over REST,
   e.g. ``message.send``, answered with what REST answers); ``unsubscribe`` ->
   ``unsubscribed``.
5. Membership is re-checked when it may have changed (``rt.recheck``: a principal changed in
   accounts, an app said a stream's members changed) and every
   ``REALTIME_WS_REAUTH_SECONDS`` as a backstop; a lost stream ends with ``unsubscribed``
   and the reason, a lost identity/session with ``SESSION_REVOKED`` and close 4401.

Every state change of a socket happens in the consumer's own message loop (Channels runs one
handler at a time per socket); the background heartbeat only refreshes presence, closes idle
sockets and posts ``rt.recheck`` to the socket's own channel. Database work goes through
``database_sync_to_async``; the logic lives in ``authz``, ``presence``, the accounts
selectors and the event log's ``events_for``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from prometheus_client import Counter

from aventide.accounts import selectors as accounts_selectors
from aventide.accounts import services as accounts_services
from aventide.accounts.errors import WsTicketInvalid
from aventide.core import metrics
from aventide.core.context import bound_context
from aventide.core.errors import DomainError, RateLimited
from aventide.core.logging import get_logger
from aventide.core.metrics import REGISTRY
from aventide.core.principal import Principal
from realtime import authz, presence
from realtime import selectors as log_selectors
from realtime.contracts import (
    Sent,
    Stream,
    ack_handler,
    audience_keys,
    parse_stream,
    principal_group,
    send_handler,
)
from realtime.errors import AckUnknown, CursorExpired, InvalidCursor, SendUnknown
from realtime.limits import FrameBucket, frame_too_large

logger = get_logger("aventide.realtime")

#: The subprotocol a client offers (and the server selects) when it sends its ticket in
#: ``Sec-WebSocket-Protocol``: ``aventide.v1, ticket.<ticket>``. The ticket is never echoed.
SUBPROTOCOL = "aventide.v1"
TICKET_SUBPROTOCOL_PREFIX = "ticket."

# Close codes (docs/api/realtime-websocket.md).
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_LARGE = 1009
CLOSE_AUTH = 4401
CLOSE_IDLE = 4408
CLOSE_RATE_LIMITED = 4429

#: Events per page while resuming (the log's catchup cap applies too).
RESUME_PAGE = 200

FRAMES_SENT = Counter(
    "aventide_realtime_frames_sent",
    "Event frames sent to WebSocket clients (live and resumed).",
    ["path"],
    registry=REGISTRY,
)
FRAMES_DROPPED = Counter(
    "aventide_realtime_frames_dropped",
    "Live events a socket received from the channel layer and did not send, by reason "
    "(duplicate: already sent by the resume; not_subscribed; not_audience).",
    ["reason"],
    registry=REGISTRY,
)

_STATIC_MESSAGES = {
    "AUTH_REQUIRED": "Authenticate first with a valid ws ticket.",
    "BAD_FRAME": "Frames are JSON objects with a known 'type'.",
    "INVALID_STREAM": "Not a stream name (user:<id>, anon:<uuid>, order:<id>, "
    "conversation:<id>, staff:<CC>).",
    "TOO_MANY_SUBSCRIPTIONS": "Too many open subscriptions on this socket.",
    "FRAME_TOO_LARGE": "The frame is larger than the limit.",
    "RATE_LIMITED": "Too many frames per second.",
    "RESUME_TOO_LARGE": "Too many missed events to resume here; use the REST catchup from "
    "'cursor', then subscribe again with the cursor it returns.",
    "SESSION_REVOKED": "The session or identity of this socket is no longer valid.",
    "INTERNAL_ERROR": "Something went wrong on our side.",
}


@dataclass(slots=True)
class Subscription:
    stream: Stream
    #: the highest event id sent on this stream: live events at or below it are duplicates
    last_id: int = 0
    #: the log's head when it was subscribed without ``since`` (where a resync starts if no
    #: event was sent on it yet)
    floor: int = 0


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _clean_ref(value: object) -> str | int | None:
    """A client's correlation id, echoed back when it is a short string or an integer."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and abs(value) < 2**53:
        return value
    if isinstance(value, str) and len(value) <= 64:
        return value
    return None


class RealtimeConsumer(AsyncWebsocketConsumer):
    """One socket of ``/ws/realtime/`` (see the module docstring)."""

    principal: Principal | None
    session_id: str
    audience: frozenset[str]
    subscriptions: dict[str, Subscription]

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message ``aclose_old_connections`` (a hop to a
        sync thread for every frame and every live event: ~8% of a server's CPU in the soak,
        1,000 sockets). Every database call of this consumer goes through
        ``database_sync_to_async``, which closes stale connections itself, before and after
        the call, on the thread that holds them; nothing here touches the database from the
        event loop."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        self.principal = None
        self.session_id = ""
        self.audience = frozenset()
        self.subscriptions = {}
        self.bucket = FrameBucket.from_settings()
        self.last_frame_at = time.monotonic()
        self.closing = False
        self.authenticating = False
        self.presence_key: str | None = None
        self.principal_groups: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        offered = [p for p in self.scope.get("subprotocols") or [] if isinstance(p, str)]
        ticket = next(
            (p[len(TICKET_SUBPROTOCOL_PREFIX) :] for p in offered if p.startswith("ticket.")),
            None,
        )
        await self.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        if ticket is not None:
            await self._authenticate(ticket)
        else:
            self.tasks.append(asyncio.create_task(self._auth_deadline()))

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        layer = self.channel_layer
        if layer is not None:
            for name in {sub.stream.group for sub in self.subscriptions.values()}:
                await layer.group_discard(name, self.channel_name)
            for name in self.principal_groups:
                await layer.group_discard(name, self.channel_name)
        self.subscriptions.clear()
        if self.presence_key is not None:
            presence.CONNECTIONS.dec()
            try:
                await presence.leave(self.presence_key, self.channel_name)
            except Exception:  # noqa: BLE001 - presence expires on its own; a close never fails
                logger.warning("REALTIME_PRESENCE_LEAVE_FAILED", exc_info=True)
            self.presence_key = None

    async def _close(self, code: int, error: str | None = None, **fields: Any) -> None:
        if self.closing:
            return
        self.closing = True
        if error is not None:
            await self._send_error(error, **fields)
        await self.close(code=code)

    # --- frames from the client ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        self.last_frame_at = time.monotonic()
        if text_data is None:
            await self._close(CLOSE_UNSUPPORTED_DATA, "BAD_FRAME")
            return
        if frame_too_large(text_data):
            await self._close(CLOSE_TOO_LARGE, "FRAME_TOO_LARGE")
            return
        if not self.bucket.take():
            metrics.emit("METRIC_REALTIME_WS_LIMITED", labels={"limit": "frames_per_second"})
            await self._close(CLOSE_RATE_LIMITED, "RATE_LIMITED")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            frame = None
        kind = frame.get("type") if isinstance(frame, dict) else None
        if not isinstance(frame, dict) or not isinstance(kind, str):
            await self._send_error("BAD_FRAME")
            return
        if self.principal is None:
            if kind == "auth" and not self.authenticating:
                await self._authenticate(frame.get("ticket"))
            else:
                await self._close(CLOSE_AUTH, "AUTH_REQUIRED")
            return
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "ack": self._ack,
            "send": self._send_frame,
            "ping": self._ping,
        }.get(kind)
        if handler is None:
            await self._send_error("BAD_FRAME")
            return
        await handler(frame)

    async def _authenticate(self, ticket: object) -> None:
        self.authenticating = True
        try:
            grant = await database_sync_to_async(accounts_services.ws_ticket_redeem_grant)(
                ticket=ticket if isinstance(ticket, str) else ""
            )
        except WsTicketInvalid:
            metrics.emit("METRIC_REALTIME_WS_AUTH_FAILED", labels={"reason": "ticket"})
            await self._close(CLOSE_AUTH, "AUTH_REQUIRED")
            return
        finally:
            self.authenticating = False
        if self.closing:  # the auth deadline passed meanwhile
            return
        principal = grant.principal
        self._become(principal)
        self.session_id = grant.session_id
        self.principal_groups = [principal_group(principal)]
        await self.channel_layer.group_add(self.principal_groups[0], self.channel_name)
        self.presence_key = presence.presence_key(principal)
        if self.presence_key is not None:
            presence.CONNECTIONS.inc()
            await presence.touch(self.presence_key, self.channel_name)
        self.tasks.append(asyncio.create_task(self._heartbeat()))
        metrics.emit("METRIC_REALTIME_WS_CONNECTED", labels={"kind": str(principal.kind)})
        await self._send(
            {
                "type": "authenticated",
                "kind": str(principal.kind),
                "heartbeatSeconds": settings.REALTIME_WS_HEARTBEAT_SECONDS,
                "limits": {
                    "maxFrameBytes": settings.REALTIME_WS_MAX_FRAME_BYTES,
                    "maxFramesPerSecond": settings.REALTIME_WS_MAX_FRAMES_PER_SECOND,
                    "maxSubscriptions": settings.REALTIME_WS_MAX_SUBSCRIPTIONS,
                },
            }
        )

    def _become(self, principal: Principal) -> None:
        self.principal = principal
        self.audience = frozenset(audience_keys(principal))

    async def _ping(self, frame: dict[str, Any]) -> None:
        await self._send({"type": "pong"})

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        principal = self.principal
        assert principal is not None
        stream = parse_stream(frame.get("stream"))
        if stream is None:
            await self._send_error("INVALID_STREAM")
            return
        since: int | None = None
        if frame.get("since") is not None:
            try:
                since = log_selectors.parse_cursor(frame["since"])
            except InvalidCursor as error:
                await self._send_error(error.code, stream=stream.name, message=error.message)
                return
        if (
            stream.name not in self.subscriptions
            and len(self.subscriptions) >= settings.REALTIME_WS_MAX_SUBSCRIPTIONS
        ):
            await self._send_error("TOO_MANY_SUBSCRIPTIONS", stream=stream.name)
            return
        refusal = await database_sync_to_async(authz.check)(principal, stream)
        if refusal is not None:
            authz.count_denied(refusal.code, stream, on="subscribe")
            await self._drop(stream.name)
            await self._send_error(refusal.code, stream=stream.name, message=refusal.message)
            return
        # Join the group first, then read the log: an event committed after the read is
        # delivered live, one committed before is in the read, and live copies of what the
        # read sent are dropped (id <= last_id). Live events queue in this socket's channel
        # while the resume runs (one handler at a time).
        await self.channel_layer.group_add(stream.group, self.channel_name)
        subscription = Subscription(stream=stream, last_id=since or 0)
        self.subscriptions[stream.name] = subscription
        if since is None:
            subscription.floor = await database_sync_to_async(log_selectors.current_cursor)()
            await self._send({"type": "subscribed", "stream": stream.name, "since": None})
            return
        page = await self._log_page(subscription, since)
        if page is None:
            return
        await self._send({"type": "subscribed", "stream": stream.name, "since": since})
        await self._resume(subscription, page)

    async def _log_page(self, subscription: Subscription, since: int) -> Any:
        """The principal's next page of the stream's log after ``since``; None (the
        subscription dropped, the client told why) for a bad or expired cursor."""
        principal = self.principal
        assert principal is not None
        name = subscription.stream.name
        try:
            return await database_sync_to_async(log_selectors.events_for)(
                principal=principal, since=since, limit=RESUME_PAGE, stream=name
            )
        except (InvalidCursor, CursorExpired) as error:
            await self._drop(name)
            await self._send_error(error.code, stream=name, message=error.message)
            return None

    async def _resume(
        self, subscription: Subscription, page: Any, *, caught_up: bool = True
    ) -> None:
        """Send the missed events page by page, then ``caughtUp`` (live follows)."""
        stream = subscription.stream.name
        sent = 0
        while True:
            for event in page.events:
                if event["id"] > subscription.last_id:
                    await self._send(event)
                    subscription.last_id = event["id"]
                    sent += 1
            FRAMES_SENT.labels(path="resume").inc(len(page.events))
            if not page.has_more:
                break
            if sent >= settings.REALTIME_WS_RESUME_MAX_EVENTS:
                await self._drop(stream)
                await self._send_error("RESUME_TOO_LARGE", stream=stream, cursor=page.next_cursor)
                return
            page = await self._log_page(subscription, page.next_cursor)
            if page is None:
                return
        if caught_up:
            await self._send({"type": "caughtUp", "stream": stream, "cursor": subscription.last_id})

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        stream = parse_stream(frame.get("stream"))
        if stream is None:
            await self._send_error("INVALID_STREAM")
            return
        await self._drop(stream.name)
        await self._send({"type": "unsubscribed", "stream": stream.name, "reason": "CLIENT"})

    async def _drop(self, name: str) -> bool:
        subscription = self.subscriptions.pop(name, None)
        if subscription is None:
            return False
        await self.channel_layer.group_discard(subscription.stream.group, self.channel_name)
        return True

    async def _ack(self, frame: dict[str, Any]) -> None:
        kind, ref = frame.get("kind"), _clean_ref(frame.get("ref"))
        handler = ack_handler(kind) if isinstance(kind, str) else None
        if handler is None or not isinstance(kind, str):
            await self._send_error(AckUnknown.code, AckUnknown.default_message, ref=ref)
            return
        done, result = await self._run_handler(handler, frame, kind=kind, ref=ref, what="ack")
        if not done:
            return
        reply: dict[str, Any] = {"type": "acked", "kind": kind, "ref": ref}
        if result:
            reply["data"] = result
        await self._send(reply)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        """``{"type": "send", "kind": ..., "ref": ..., ...}``: a write through the handler an
        app registered for ``kind``; ``sent`` with its ``data`` (and ``replayed`` when the
        answer is the original of an earlier send with the same client id)."""
        kind, ref = frame.get("kind"), _clean_ref(frame.get("ref"))
        handler = send_handler(kind) if isinstance(kind, str) else None
        if handler is None or not isinstance(kind, str):
            await self._send_error(SendUnknown.code, SendUnknown.default_message, ref=ref)
            return
        done, result = await self._run_handler(handler, frame, kind=kind, ref=ref, what="send")
        if not done:
            return
        assert isinstance(result, Sent), f"a send handler returned {type(result).__name__}"
        reply: dict[str, Any] = {"type": "sent", "kind": kind, "ref": ref, "data": result.data}
        if result.replayed:
            reply["replayed"] = True
        await self._send(reply)

    async def _run_handler(
        self,
        handler: Callable[[Principal, dict[str, Any]], object],
        frame: dict[str, Any],
        *,
        kind: str,
        ref: str | int | None,
        what: str,
    ) -> tuple[bool, object]:
        """Run an app's frame handler in its own request context (one request id, bound to the
        socket's principal; the handler opens its use-case frame) on the database thread.
        ``(True, result)``, or ``(False, None)`` once the error frame is sent: the
        DomainError's code, message, ``details`` and ``retryAfter`` (a 429's ``Retry-After``),
        with the frame's ``ref`` and the ``requestId`` of the audit rows and logs."""
        principal = self.principal
        assert principal is not None
        data = {k: v for k, v in frame.items() if k not in ("type", "kind", "ref")}

        def run(request_id: list[str]) -> object:
            with bound_context(principal=principal) as rid:
                request_id.append(rid)
                return handler(principal, data)

        rid: list[str] = []
        try:
            return True, await database_sync_to_async(run)(rid)
        except DomainError as error:
            await self._send_error(
                error.code,
                message=error.message,
                ref=ref,
                requestId=rid[0] if rid else None,
                details=error.details,
                retryAfter=error.retry_after if isinstance(error, RateLimited) else None,
            )
        except Exception:
            event = "REALTIME_ACK_FAILED" if what == "ack" else "REALTIME_SEND_FAILED"
            logger.exception(event, frameKind=kind)
            await self._send_error("INTERNAL_ERROR", ref=ref, requestId=rid[0] if rid else None)
        return False, None

    # --- messages from the channel layer ------------------------------------------------------

    async def rt_event(self, message: dict[str, Any]) -> None:
        """A live event published to a stream group this socket is in."""
        frame = message.get("frame") or {}
        subscription = self.subscriptions.get(frame.get("stream", ""))
        if subscription is None or self.closing:
            FRAMES_DROPPED.labels(reason="not_subscribed").inc()
            return
        if self.audience.isdisjoint(message.get("audience") or ()):
            FRAMES_DROPPED.labels(reason="not_audience").inc()
            return
        event_id = frame.get("id")
        if not isinstance(event_id, int) or event_id <= subscription.last_id:
            FRAMES_DROPPED.labels(reason="duplicate").inc()
            return
        prev = message.get("prev")
        if isinstance(prev, int) and prev > max(subscription.last_id, subscription.floor):
            # An earlier event of the stream has not been sent on this socket: another
            # process's fan-out is behind this one (or lost it). Send what the log has after
            # the last id, in order -- this event included, it is committed -- rather than
            # let the earlier one arrive after and be dropped as a duplicate.
            metrics.emit("METRIC_REALTIME_WS_OVERTAKEN", log=False)
            if not await self._fill_from_log(subscription) or event_id <= subscription.last_id:
                return
        subscription.last_id = event_id
        await self._send(frame)
        FRAMES_SENT.labels(path="live").inc()

    async def rt_resync(self, message: dict[str, Any]) -> None:
        """The channel layer lost its Redis connection and has it back (``realtime.layers``):
        live events published meanwhile never came. Send each subscription what the log has
        after the last id sent on it (after the head at subscribe time if none was), as a
        resume does, without the ``caughtUp`` frame; the live events queued behind this
        message are then dropped as duplicates or sent in order."""
        if self.principal is None or self.closing:
            return
        metrics.emit("METRIC_REALTIME_WS_RESYNC")
        for name in list(self.subscriptions):
            subscription = self.subscriptions.get(name)
            if subscription is None:
                continue
            await self._fill_from_log(subscription)

    async def _fill_from_log(self, subscription: Subscription) -> bool:
        """Send what the log has after the last id sent on ``subscription`` (after the head
        at subscribe time if none was), in order, without ``caughtUp``; False when the
        subscription was dropped (a bad or expired cursor, the client told why)."""
        page = await self._log_page(subscription, max(subscription.last_id, subscription.floor))
        if page is None:
            return False
        await self._resume(subscription, page, caught_up=False)
        return subscription.stream.name in self.subscriptions

    async def rt_recheck(self, message: dict[str, Any]) -> None:
        """Re-authorize: the whole socket (``stream`` absent: the principal may have changed),
        or the subscriptions of one stream (its members may have changed)."""
        if self.principal is None or self.closing:
            return
        stream = message.get("stream")
        if not stream:
            current = await database_sync_to_async(accounts_selectors.ws_principal_current)(
                principal=self.principal, session_id=self.session_id
            )
            if current is None:
                metrics.emit("METRIC_REALTIME_WS_REVOKED", labels={"reason": "SESSION_REVOKED"})
                await self._close(CLOSE_AUTH, "SESSION_REVOKED")
                return
            self._become(current)
            names = list(self.subscriptions)
            # The core channel layer forgets group members after its group expiry: rejoin.
            for group in self.principal_groups:
                await self.channel_layer.group_add(group, self.channel_name)
        else:
            names = [stream] if stream in self.subscriptions else []
        for name in names:
            await self._recheck_stream(name, rejoin=not stream)

    async def _recheck_stream(self, name: str, *, rejoin: bool) -> None:
        principal = self.principal
        subscription = self.subscriptions.get(name)
        if principal is None or subscription is None:
            return
        refusal = await database_sync_to_async(authz.check)(principal, subscription.stream)
        if refusal is None:
            if rejoin:
                await self.channel_layer.group_add(subscription.stream.group, self.channel_name)
            return
        authz.count_denied(refusal.code, subscription.stream, on="recheck")
        await self._drop(name)
        await self._send({"type": "unsubscribed", "stream": name, "reason": refusal.code})

    # --- background ---------------------------------------------------------------------------

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(float(settings.REALTIME_WS_AUTH_TIMEOUT_SECONDS))
        if self.principal is None and not self.authenticating:
            metrics.emit("METRIC_REALTIME_WS_AUTH_FAILED", labels={"reason": "timeout"})
            await self._close(CLOSE_AUTH, "AUTH_REQUIRED")

    async def _heartbeat(self) -> None:
        """Refresh presence, close a silent socket, ask for the periodic re-authorization."""
        beat = float(settings.REALTIME_WS_HEARTBEAT_SECONDS)
        reauth_every = float(settings.REALTIME_WS_REAUTH_SECONDS)
        last_reauth = time.monotonic()
        while not self.closing:
            await asyncio.sleep(beat)
            now = time.monotonic()
            if now - self.last_frame_at > float(settings.REALTIME_WS_IDLE_TIMEOUT_SECONDS):
                await self._close(CLOSE_IDLE)
                return
            if self.presence_key is not None:
                try:
                    await presence.touch(self.presence_key, self.channel_name)
                except Exception:  # noqa: BLE001 - Redis away: the entry expires, the socket lives
                    logger.warning("REALTIME_PRESENCE_TOUCH_FAILED", exc_info=True)
            if now - last_reauth >= reauth_every:
                last_reauth = now
                await self.channel_layer.send(self.channel_name, {"type": "rt.recheck"})

    # --- output -------------------------------------------------------------------------------

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=_dumps(frame))

    async def _send_error(self, code: str, message: str | None = None, **fields: Any) -> None:
        frame: dict[str, Any] = {
            "type": "error",
            "code": code,
            "message": message or _STATIC_MESSAGES.get(code, code),
        }
        frame.update({k: v for k, v in fields.items() if v is not None})
        await self._send(frame)
