"""ws-token: a single-use 60 s ticket in the shared cache, bound to the caller's session."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from aventide.accounts import selectors, services
from aventide.accounts.errors import WsTicketInvalid
from aventide.accounts.models import User
from aventide.accounts.services import ws_tickets
from aventide.core.principal import SYSTEM, Principal, PrincipalKind
from tests.accounts.factories import (
    anon_headers,
    anonymous_principal,
    issue_anon,
    login_headers,
    make_staff,
    make_user,
    principal,
)

pytestmark = pytest.mark.django_db


def _session_ticket(user: User | None = None) -> tuple[User, str, str]:
    """A user, a login session of theirs and a ticket issued from it."""
    user = user or make_user()
    session = services.session_start(user=user, method="password")
    ticket = services.ws_ticket_issue(actor=principal(user), session_id=session.family_id)
    return user, str(session.family_id), ticket


def test_user_gets_a_ticket_that_redeems_once(api_client) -> None:
    user = make_user(country_code="MX")
    response = api_client.post("/api/auth/ws-token", **login_headers(user))
    assert response.status_code == 200
    body = response.json()
    assert body["expiresIn"] == 60 and len(body["ticket"]) >= 40
    actor = services.ws_ticket_redeem(ticket=body["ticket"])
    assert actor == Principal(kind=PrincipalKind.USER, id=str(user.pk), country_code="MX")
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=body["ticket"])


def test_staff_ticket_carries_the_level() -> None:
    _, _, ticket = _session_ticket(make_staff(level="L3", countries=("AR",)))
    actor = services.ws_ticket_redeem(ticket=ticket)
    assert (actor.kind, actor.level, actor.countries) == ("staff", "L3", frozenset({"AR"}))


def test_redeem_gives_the_session_the_ticket_came_from() -> None:
    user, family, ticket = _session_ticket()
    grant = services.ws_ticket_redeem_grant(ticket=ticket)
    assert grant.principal.user_id == user.pk
    assert grant.session_id == family


def test_a_ticket_of_a_session_logged_out_before_the_socket_opens_is_refused() -> None:
    user, family, ticket = _session_ticket()
    # The principal cache holds "logged in" for this session (as after an API request).
    assert selectors.ws_principal_current(principal=principal(user), session_id=family)
    services.session_logout(actor=principal(user), family_id=family)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_a_ticket_of_a_deactivated_user_is_refused() -> None:
    user, _, ticket = _session_ticket()
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_a_ticket_of_a_revoked_anonymous_identity_is_refused() -> None:
    issued = issue_anon(order_id=9, country_code="BR")
    ticket = services.ws_ticket_issue(actor=anonymous_principal(issued.anon_id))
    services.anonymous_identity_revoke(actor=SYSTEM, anon_id=issued.anon_id)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_redeem_gives_the_staff_scope_as_it_is_now() -> None:
    staff = make_staff(level="L2", countries=("AR",))
    _, _, ticket = _session_ticket(staff)
    services.staff_scope_grant(actor=SYSTEM, staff=staff.staff_profile, country_code="MX")
    actor = services.ws_ticket_redeem(ticket=ticket)
    assert actor.countries == frozenset({"AR", "MX"})


def test_a_registered_ticket_needs_a_session_and_the_system_gets_none() -> None:
    with pytest.raises(ValueError, match="session"):
        services.ws_ticket_issue(actor=principal(make_user()))
    with pytest.raises(ValueError, match="ws tickets"):
        services.ws_ticket_issue(actor=SYSTEM)


def test_anonymous_identity_gets_a_ticket(api_client) -> None:
    issued = issue_anon(order_id=9, country_code="BR")
    response = api_client.post(
        "/api/auth/ws-token", **anon_headers(issued.anon_id, issued.signature)
    )
    assert response.status_code == 200
    actor = services.ws_ticket_redeem(ticket=response.json()["ticket"])
    assert actor == Principal(
        kind=PrincipalKind.ANONYMOUS,
        id=str(issued.anon_id),
        country_code="BR",
        order_id=9,
        role="recipient",
    )


def test_ws_token_needs_credentials(api_client) -> None:
    response = api_client.post("/api/auth/ws-token")
    assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("ticket", ["", "short", "x" * 43, "y" * 500])
def test_unknown_tickets_are_invalid(ticket: str) -> None:
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_ticket_expires_after_its_ttl(monkeypatch) -> None:
    monkeypatch.setattr(ws_tickets, "WS_TICKET_TTL_SECONDS", 1)
    _, _, ticket = _session_ticket()
    time.sleep(1.2)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_the_ticket_is_not_stored_in_clear() -> None:
    from django.core.cache import cache

    _, _, ticket = _session_ticket()
    assert cache.get(services.WS_TICKET_KEY.format(ticket)) is None


def _race(ticket: str, threads: int = 12) -> list[bool]:
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    lock = threading.Lock()

    def redeem() -> None:
        barrier.wait()
        try:
            services.ws_ticket_redeem(ticket=ticket)
            ok = True
        except WsTicketInvalid:
            ok = False
        finally:
            # the winner read the session from the database: give its pooled connection back
            # (a thread that ends holding one leaks it for the rest of the test process)
            connection.close()
        with lock:
            results.append(ok)

    workers = [threading.Thread(target=redeem) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)  # the redeeming threads read the committed session
def test_single_use_under_concurrency_on_redis() -> None:
    assert "redis" in django_settings.CACHES["default"]["BACKEND"].lower()
    user = make_user()
    for _ in range(5):
        _, _, ticket = _session_ticket(user)
        results = _race(ticket)
        assert len(results) == 12
        assert results.count(True) == 1


@pytest.mark.django_db(transaction=True)
def test_single_use_under_concurrency_on_the_configured_cache() -> None:
    _, _, ticket = _session_ticket()
    results = _race(ticket)
    assert results.count(True) == 1
