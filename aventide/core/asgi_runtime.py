"""Django over ASGI with one thread hand-off per request and a fixed pool of sync threads.

Stock ``ASGIHandler`` runs the middleware chain in async mode. Django's own middleware
(``MiddlewareMixin``) then calls every ``process_request``/``process_response`` through
``sync_to_async``, ``CsrfViewMiddleware.process_view`` likewise, and the (sync) view once
more: about 15 event-loop <-> thread hand-offs per API request. Every view here is sync, so
``OneHopASGIHandler`` loads the chain in sync mode and runs chain + view in ONE hop, the way
WSGI would, on a thread of this process's pool. The event loop keeps what it is good at:
reading the body, waiting for a thread, sending the response. A request makes ONE hop in
all: the ``request_started`` receivers, the chain and ``response.close()`` (which fires
``request_finished`` and so returns the database connection to the pool) run together
(decision 0016; Django's own ``handle`` makes three).

``SyncThreads`` is that pool: ``ASGI_THREADS`` single-thread executors. Django would create
a new thread per request (one ``ThreadSensitiveContext`` each) with no upper bound; here a
request borrows one executor after its body has arrived and gives it back when its response
is sent, so at most ``ASGI_THREADS`` requests run sync code at once per process, each holding
at most one database connection (hence ``DB_POOL_MAX_SIZE`` defaults to ``ASGI_THREADS`` + 1:
one more for the WebSocket consumers' thread).
Requests beyond that wait on the event loop, which costs no thread.

Every middleware stays sync- and async-capable (tests/core/test_asgi_path.py), so switching
back to Django's async chain (e.g. for async views) is a one-line change in aventide/asgi.py.
docs/decisions/0009-asgi-path.md has the measurements and the reasoning.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import IO, Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from aventide.core import context
from aventide.core.errors import error_body
from aventide.core.logging import get_logger

Scope = dict[str, Any]
logger = get_logger("aventide.server")

#: The body read before the request got its thread (handed to Django's ``handle``).
_PREREAD_BODY: contextvars.ContextVar[IO[bytes] | None] = contextvars.ContextVar(
    "aventide_preread_body", default=None
)


class SyncThreads:
    """A fixed set of single-thread executors, lent to one request at a time.

    Threads start lazily (on an executor's first use) and are reused for the life of the
    process. Waiting for an executor happens on the event loop, first come first served.
    """

    def __init__(self, size: int, *, name: str = "aventide-sync") -> None:
        if size < 1:
            raise ValueError("at least one thread")
        self.size = size
        self._idle: list[ThreadPoolExecutor] = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-{i}")
            for i in reversed(range(size))
        ]
        self._waiters: deque[asyncio.Future[ThreadPoolExecutor]] = deque()

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    @asynccontextmanager
    async def context(self) -> AsyncIterator[ThreadPoolExecutor]:
        """Run the block's thread-sensitive sync calls on one borrowed thread."""
        executor = await self._acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                yield executor
        finally:
            self._release(executor)

    async def _acquire(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        waiter: asyncio.Future[ThreadPoolExecutor] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over just as we were cancelled
            raise

    def _release(self, executor: ThreadPoolExecutor) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(executor)
                return
        self._idle.append(executor)


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler with a sync middleware chain run in one hop on ``threads``."""

    def __init__(self, threads: SyncThreads) -> None:
        self.threads = threads
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # The chain is sync; get_response_async runs it in one hop.
        super().load_middleware(is_async=False)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # raises: HTTP only
            return
        # The body first: a slow upload must not hold one of the few threads.
        try:
            body_file = await super().read_body(receive)
        except RequestAborted:
            return
        token = _PREREAD_BODY.set(body_file)
        response_started = False

        async def tracking_send(message: Mapping[str, Any]) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with self.threads.context():
                await self.handle(scope, receive, tracking_send)
        except asyncio.CancelledError:
            # The server cancels what is still running when its graceful shutdown timeout
            # ends (WEB_GRACEFUL_TIMEOUT_SECONDS). Answer in the contract, not with a bare 500.
            if response_started:
                raise
            await _send_cut_by_shutdown(scope, send)
        finally:
            _PREREAD_BODY.reset(token)

    async def read_body(self, receive: Any) -> IO[bytes]:
        body_file = _PREREAD_BODY.get()
        if body_file is not None:
            _PREREAD_BODY.set(None)
            return body_file
        body: IO[bytes] = await super().read_body(receive)
        return body

    async def handle(self, scope: Scope, receive: Any, send: Any) -> None:
        """Django's ``handle`` with its three hops folded into one (decision 0016).

        ``_respond`` runs, on the request's thread, the ``request_started`` receivers, the
        chain + view, and -- for a complete (non-streaming) response -- ``response.close()``
        (``request_finished``: the database connection goes back to the pool before the
        bytes are sent, not after). The event loop then sends the response. A streaming
        response (files) is closed after it was sent, in a second hop, as Django does.
        No disconnect listener runs beside the view: the view is sync code on a thread that
        a disconnect could not stop anyway; an answer to a gone client is dropped by the
        server.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope: Scope, body_file: IO[bytes]) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response: HttpResponseBase
        if request is None:
            assert error_response is not None
            response = error_response
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        # Not on this handler's path (``handle`` calls ``get_response`` in ``_respond``);
        # kept one-hop for anything calling Django's async entry point directly.
        response: HttpResponseBase = await sync_to_async(self.get_response, thread_sensitive=True)(
            request
        )
        return response


async def _send_cut_by_shutdown(scope: Scope, send: Any) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    request_id = context.sanitize_request_id(headers.get("x-request-id")) or (
        context.new_request_id()
    )
    logger.warning("WEB_REQUEST_CUT_BY_SHUTDOWN", requestId=request_id)
    body = error_body(
        status=503,
        code="SERVICE_UNAVAILABLE",
        message="The server is restarting. Retry in a moment.",
        request_id=request_id,
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"retry-after", b"1"),
                (b"x-request-id", request_id.encode("latin-1")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def get_asgi_handler(threads: int) -> OneHopASGIHandler:
    """Like ``django.core.asgi.get_asgi_application()``, with ``threads`` sync threads."""
    django.setup(set_prefix=False)
    return OneHopASGIHandler(SyncThreads(threads))
