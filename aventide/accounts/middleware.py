"""Bind the caller's principal into the request context, and write deferred scope refusals.

Runs after Django's AuthenticationMiddleware. For an admin/session request it resolves the
session's staff member into a `Principal` (once) and binds it, so logs and audit rows written
by admin actions and services are attributed to them; API requests are bound later by the
DRF authentication classes. The previous value is restored when the request ends, whatever
the authentication did in between, so a principal never leaks into the next request served
by the same thread.

At the end of every request it writes the audit rows of scope refusals that happened inside a
transaction opened by framework code (the admin's change view): that transaction has rolled
back by then, so the rows commit (see ``aventide.accounts.refusals``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from aventide.accounts.principals import principal_for_request
from aventide.accounts.refusals import has_pending_refusals, record_refusals
from aventide.core.context import reset_principal, set_principal
from aventide.core.middleware import HybridMiddleware
from aventide.core.principal import Principal

_NO_SESSION_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/static/")


def _uses_session(request: HttpRequest) -> bool:
    # API requests authenticate with tokens (DRF binds the principal); probes and static
    # files must not read the session (/healthz does no I/O at all); only the admin and other
    # session pages need the session user.
    return not request.path.startswith(_NO_SESSION_PATHS)


def _session_principal(request: HttpRequest, user: object) -> Principal | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return principal_for_request(request, user=user)


class ActorContextMiddleware(HybridMiddleware):
    def handle(self, request: HttpRequest) -> Any:
        principal = (
            _session_principal(request, getattr(request, "user", None))
            if _uses_session(request)
            else None
        )
        token = set_principal(principal)
        try:
            return self.get_response(request)
        finally:
            reset_principal(token)
            record_refusals()

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        principal = None
        if _uses_session(request) and hasattr(request, "auser"):
            user = await request.auser()
            if getattr(user, "is_authenticated", False):
                principal = await sync_to_async(_session_principal)(request, user)
        token = set_principal(principal)
        try:
            get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
            return await get_response(request)
        finally:
            reset_principal(token)
            if has_pending_refusals():  # rare: no thread hop on the usual request
                await sync_to_async(record_refusals)()
