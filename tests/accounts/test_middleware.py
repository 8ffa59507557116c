"""The session actor is bound for admin requests (sync and async) and never leaks."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory

from aventide.accounts.middleware import ActorContextMiddleware
from aventide.core.context import get_principal, set_principal
from aventide.core.principal import Principal, PrincipalKind
from tests.accounts.factories import make_staff, principal


def _sync_view(seen: list) -> ActorContextMiddleware:
    def view(request):
        seen.append(get_principal())
        set_principal(Principal(kind=PrincipalKind.USER, id="999"))  # undone after the view
        return HttpResponse("ok")

    return ActorContextMiddleware(view)


@pytest.mark.django_db
def test_sync_admin_request_binds_the_staff_actor_and_resets_it() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    seen: list = []
    request = RequestFactory().get("/admin/")
    request.user = staff
    _sync_view(seen)(request)
    assert seen == [principal(staff)]
    assert seen[0].level == "L2" and seen[0].countries == frozenset({"AR"})
    assert get_principal() is None


@pytest.mark.django_db
def test_api_requests_are_left_to_drf_authentication() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    seen: list = []
    request = RequestFactory().get("/api/auth/me")
    request.user = staff
    _sync_view(seen)(request)
    assert seen == [None] and get_principal() is None


@pytest.mark.django_db(transaction=True)
async def test_async_admin_request_binds_the_staff_actor() -> None:
    staff = await sync_to_async(make_staff)(level="L3", countries=("MX",))
    seen: list = []

    async def view(request):
        seen.append(get_principal())
        return HttpResponse("ok")

    async def auser():
        return staff

    request = RequestFactory().get("/admin/")
    request.auser = auser
    await ActorContextMiddleware(view)(request)
    expected = await sync_to_async(principal)(staff)
    assert seen == [expected] and seen[0].level == "L3"
    assert get_principal() is None
    await sync_to_async(_close_thread_connections)()


def _close_thread_connections() -> None:
    """Close the DB connections opened by sync_to_async's worker thread."""
    connections.close_all()


async def test_async_anonymous_session_binds_nothing() -> None:
    seen: list = []

    async def view(request):
        seen.append(get_principal())
        return HttpResponse("ok")

    async def auser():
        return AnonymousUser()

    request = RequestFactory().get("/admin/login/")
    request.auser = auser
    await ActorContextMiddleware(view)(request)
    assert seen == [None]
