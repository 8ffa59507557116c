"""Bind the session user (the admin's staff member) into the request context.

Runs after Django's AuthenticationMiddleware. For an admin/session request it sets the
context actor, so audit rows written by admin actions and services are attributed to the
staff member; API requests are bound later by the DRF authentication classes. The previous
value is restored when the request ends, whatever the authentication did in between, so an
actor never leaks into the next request served by the same thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from aventide.accounts.contracts import actor_for
from aventide.core.context import Actor, reset_actor, set_actor
from aventide.core.middleware import HybridMiddleware


def _actor_of(user: Any) -> Actor | None:
    if user is not None and getattr(user, "is_authenticated", False):
        return actor_for(user)
    return None


_NO_SESSION_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/static/")


def _uses_session(request: HttpRequest) -> bool:
    # API requests authenticate with tokens (DRF binds the actor); probes and static files
    # must not read the session (/healthz does no I/O at all); only the admin and other
    # session pages need the session user.
    return not request.path.startswith(_NO_SESSION_PATHS)


class ActorContextMiddleware(HybridMiddleware):
    def handle(self, request: HttpRequest) -> Any:
        actor = _actor_of(getattr(request, "user", None)) if _uses_session(request) else None
        token = set_actor(actor)
        try:
            return self.get_response(request)
        finally:
            reset_actor(token)

    async def ahandle(self, request: HttpRequest) -> HttpResponse:
        actor = None
        if _uses_session(request) and hasattr(request, "auser"):
            actor = await sync_to_async(_actor_of)(await request.auser())
        token = set_actor(actor)
        try:
            get_response: Callable[[HttpRequest], Awaitable[HttpResponse]] = self.get_response
            return await get_response(request)
        finally:
            reset_actor(token)
