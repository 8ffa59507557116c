"""Request body size limits, enforced before the body is read.

Django's ASGI handler reads a request's whole body (into a spooled temporary file) before
any middleware or view runs, and DRF's stream parsing bypasses
``DATA_UPLOAD_MAX_MEMORY_SIZE``: without a limit in front of Django a 50 MB body is read
whole and a 5 MB JSON body is accepted. `BodySizeLimitMiddleware` is a pure ASGI middleware
wrapped around the Django HTTP app (``aventide/asgi.py``):

- a declared ``Content-Length`` over the limit answers 413 ``PAYLOAD_TOO_LARGE`` at once,
  without reading a byte of the body;
- a body without ``Content-Length`` (chunked) is counted as it arrives and answered 413 as
  soon as it goes over, without buffering it.

The limit is ``API_MAX_BODY_BYTES`` (default 1 MiB), or the limit of the longest matching
prefix of ``API_MAX_BODY_BYTES_BY_PREFIX`` (for the few paths where uploads are expected).
The 413 is the error contract with a ``requestId`` (a sane client ``X-Request-ID`` is kept)
and the ``X-Request-ID`` header, and the connection is closed (the unread body is never
drained). `aventide.core.parsers.SafeJSONParser` checks the same limit again (defense in
depth: Django's test client and any non-ASGI entry point do not pass through here).

Apps may listen to these refusals (`on_body_rejected`, called with the request path; e.g.
integrations counts refused webhook deliveries per provider). A failing listener is logged
and never changes the 413.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from django.conf import settings

from aventide.core import context, metrics
from aventide.core.errors import DomainError, error_body
from aventide.core.logging import get_logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Django's ASGIHandler types its args narrower

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

logger = get_logger("aventide.request")

_REJECTION_LISTENERS: list[Callable[[str], None]] = []


def on_body_rejected(listener: Callable[[str], None]) -> None:
    """Call ``listener(path)`` after each 413 answered here (registered once, at
    ``AppConfig.ready()``; registering the same listener again is a no-op)."""
    if listener not in _REJECTION_LISTENERS:
        _REJECTION_LISTENERS.append(listener)


def _notify_rejected(path: str) -> None:
    for listener in list(_REJECTION_LISTENERS):
        try:
            listener(path)
        except Exception:  # a metric must never turn a 413 into a 500
            logger.exception("BODY_LIMIT_LISTENER_FAILED")


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    default_message = "The request body is too large."


def too_large_message(limit: int) -> str:
    return f"The request body is too large (at most {limit} bytes)."


def max_body_bytes_for(path: str) -> int:
    """The body limit of ``path``: the longest matching ``API_MAX_BODY_BYTES_BY_PREFIX``
    entry, else ``API_MAX_BODY_BYTES``."""
    default = int(getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))
    prefixes: dict[str, int] = getattr(settings, "API_MAX_BODY_BYTES_BY_PREFIX", {}) or {}
    best = ""
    for prefix in prefixes:
        if path.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return int(prefixes[best]) if best else default


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's ``Content-Length`` as an int; None when absent or not a number (the
    body is then counted as it arrives)."""
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    text = raw.strip()
    return int(text) if text.isdigit() else None


class _BodyOverLimit(Exception):
    """Raised from the wrapped ``receive`` once the body went over the limit."""


class BodySizeLimitMiddleware:
    """Pure ASGI middleware: 413 ``PAYLOAD_TOO_LARGE`` for bodies over the limit, decided
    from ``Content-Length`` before reading, or while counting a chunked body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        limit = max_body_bytes_for(str(scope.get("path") or ""))
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self._reject(scope, send, limit, reason="content_length")
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body") or b"")
                if received > limit:
                    raise _BodyOverLimit()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message.get("type") == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyOverLimit:
            if response_started:  # the app answered before reading it all: nothing to add
                return
            await self._reject(scope, send, limit, reason="streamed")

    async def _reject(self, scope: Scope, send: Send, limit: int, *, reason: str) -> None:
        raw_id = _header(scope, b"x-request-id")
        request_id = (
            context.sanitize_request_id(raw_id.decode("latin-1") if raw_id is not None else None)
            or context.new_request_id()
        )
        token = context.set_request_id(request_id)
        try:
            body = json.dumps(
                error_body(
                    status=413,
                    code=PayloadTooLarge.code,
                    message=too_large_message(limit),
                    request_id=request_id,
                )
            ).encode()
            method = str(scope.get("method") or "-")
            logger.warning("REQUEST_BODY_TOO_LARGE", method=method, limit=limit, reason=reason)
            metrics.emit(
                "METRIC_HTTP_REQUEST",
                labels={"method": method, "route": "<body-limit>", "status": "413"},
                durationMs=0,
            )
            _notify_rejected(str(scope.get("path") or ""))
        finally:
            context.reset_request_id(token)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (context.REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                    # The rest of the body is never read: the connection cannot be reused.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})
