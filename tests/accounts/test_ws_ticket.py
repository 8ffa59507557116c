"""ws-token: a single-use 60 s ticket in the shared cache."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as django_settings

from aventide.accounts import services
from aventide.accounts.errors import WsTicketInvalid
from aventide.accounts.services import ws_tickets
from aventide.core.principal import Principal, PrincipalKind
from tests.accounts.factories import (
    anon_headers,
    issue_anon,
    login_headers,
    make_staff,
    make_user,
    principal,
)

pytestmark = pytest.mark.django_db

USER_1 = Principal(kind=PrincipalKind.USER, id="1")


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
    staff = make_staff(level="L3", countries=("AR",))
    actor = services.ws_ticket_redeem(ticket=services.ws_ticket_issue(actor=principal(staff)))
    assert (actor.kind, actor.level, actor.countries) == ("staff", "L3", frozenset({"AR"}))


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
    ticket = services.ws_ticket_issue(actor=USER_1)
    time.sleep(1.2)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_the_ticket_is_not_stored_in_clear() -> None:
    from django.core.cache import cache

    ticket = services.ws_ticket_issue(actor=USER_1)
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
        with lock:
            results.append(ok)

    workers = [threading.Thread(target=redeem) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


@pytest.mark.redis
def test_single_use_under_concurrency_on_redis() -> None:
    assert "redis" in django_settings.CACHES["default"]["BACKEND"].lower()
    for _ in range(5):
        ticket = services.ws_ticket_issue(actor=USER_1)
        results = _race(ticket)
        assert len(results) == 12
        assert results.count(True) == 1


def test_single_use_under_concurrency_on_the_configured_cache() -> None:
    ticket = services.ws_ticket_issue(actor=USER_1)
    results = _race(ticket)
    assert results.count(True) == 1
