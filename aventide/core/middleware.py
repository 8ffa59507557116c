"""Request context middleware: request id, error contract at the edge, request metric.

Outermost middleware. For each request it
- keeps a sane client ``X-Request-ID`` (<=64 chars of ``[A-Za-z0-9._-]``) or makes one, binds
  it to the context (logs, audit, Celery headers) and echoes it on the response;
- under ``/api/`` turns an unhandled exception or any non-JSON error page (Django 404/405,
  CSRF failure, a failing middleware) into the error contract;
- emits one ``METRIC_HTTP_REQUEST`` (method, route pattern -- never the raw path --, status,
  durationMs), and ``METRIC_AUTH_5XX`` for a 5xx under ``/api/auth/``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse

from aventide.core import context, metrics
from aventide.core.db_errors import as_connection_lost
from aventide.core.errors import DomainError
from aventide.core.handlers import (
    contract_response_for,
    is_api_path,
    json_error,
    response_for_domain_error,
)
from aventide.core.logging import get_logger

logger = get_logger("aventide.request")


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unmatched>"
    route = getattr(match, "route", "") or match.view_name or "<unnamed>"
    return "/" + route.lstrip("^").rstrip("$") if not route.startswith("/") else route


class HybridMiddleware:
    """Base of a middleware that runs natively in both WSGI (sync) and ASGI (async) stacks.

    Subclasses implement ``handle(request)`` and ``ahandle(request)`` (the async twin).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.ahandle(request)
        return self.handle(request)

    def handle(self, request: HttpRequest) -> Any:
        raise NotImplementedError

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError


class RequestContextMiddleware(HybridMiddleware):
    def handle(self, request: HttpRequest) -> Any:
        token, started = self._begin(request)
        try:
            response = self.get_response(request)
            return self._finish(request, response, started)
        finally:
            context.reset_request_id(token)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        token, started = self._begin(request)
        try:
            get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
            response = await get_response(request)
            return self._finish(request, response, started)
        finally:
            context.reset_request_id(token)

    def _begin(self, request: HttpRequest) -> tuple[Any, float]:
        raw = request.headers.get(context.REQUEST_ID_HEADER)
        request_id = context.sanitize_request_id(raw) or context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]  # read by views/audit
        return context.set_request_id(request_id), time.perf_counter()

    def _finish(self, request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        if is_api_path(request.path) and response.status_code >= 400:
            response = contract_response_for(response)
        response[context.REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        route = route_of(request)
        method = request.method or "-"
        status = response.status_code
        metrics.emit(
            "METRIC_HTTP_REQUEST",
            labels={"method": method, "route": route, "status": str(status)},
            durationMs=duration_ms,
        )
        if status >= 500 and request.path.startswith("/api/auth/"):
            metrics.emit("METRIC_AUTH_5XX", labels={"route": route, "status": str(status)})
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None  # the admin keeps Django's own error pages
        if isinstance(exception, DomainError):
            return response_for_domain_error(exception)
        if isinstance(exception, Http404 | PermissionDenied | SuspiciousOperation):
            return None  # Django answers 404/403/400; _finish rewrites it to the contract
        lost = as_connection_lost(exception)
        if lost is not None:  # the database connection went away mid-request: 503, retry
            return response_for_domain_error(lost)
        logger.error("UNHANDLED_EXCEPTION", exc_info=exception, route=route_of(request))
        return json_error(500)


class SessionPagesMessageMiddleware(MessageMiddleware):
    """Django's messages, for the pages that use them (the admin) only.

    The stock middleware builds a cookie + session message storage (with its cookie signer)
    for every request; API requests never show flash messages, so under ``/api/`` nothing is
    built. Measured at ~4% of a ``GET /api/auth/me``'s CPU."""

    def process_request(self, request: HttpRequest) -> None:
        if not is_api_path(request.path):
            super().process_request(request)
