"""ws-token: a single-use 60 s ticket in the shared cache."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as django_settings

from aventide.accounts import services
from aventide.accounts.errors import WsTicketInvalid
from aventide.core.context import Actor
from tests.accounts.factories import anon_headers, issue_anon, login_headers, make_staff, make_user

pytestmark = pytest.mark.django_db


def test_user_gets_a_ticket_that_redeems_once(api_client) -> None:
    user = make_user(country_code="MX")
    response = api_client.post("/api/auth/ws-token", **login_headers(user))
    assert response.status_code == 200
    body = response.json()
    assert body["expiresIn"] == 60 and len(body["ticket"]) >= 40
    actor = services.ws_ticket_redeem(ticket=body["ticket"])
    assert actor == Actor(type="user", id=str(user.pk), level="", country_code="MX")
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=body["ticket"])


def test_staff_ticket_carries_the_level() -> None:
    staff = make_staff(level="L3", countries=("AR",))
    actor = services.ws_ticket_redeem(ticket=services.ws_ticket_issue(actor=staff))
    assert (actor.type, actor.level) == ("staff", "L3")


def test_anonymous_identity_gets_a_ticket(api_client) -> None:
    issued = issue_anon(order_id=9, country_code="BR")
    response = api_client.post(
        "/api/auth/ws-token", **anon_headers(issued.anon_id, issued.signature)
    )
    assert response.status_code == 200
    actor = services.ws_ticket_redeem(ticket=response.json()["ticket"])
    assert actor == Actor(
        type="anonymous", id=str(issued.anon_id), level="recipient", country_code="BR"
    )


def test_ws_token_needs_credentials(api_client) -> None:
    response = api_client.post("/api/auth/ws-token")
    assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("ticket", ["", "short", "x" * 43, "y" * 500])
def test_unknown_tickets_are_invalid(ticket: str) -> None:
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_ticket_expires_after_its_ttl(monkeypatch) -> None:
    monkeypatch.setattr(services, "WS_TICKET_TTL_SECONDS", 1)
    ticket = services.ws_ticket_issue(actor=Actor(type="user", id="1"))
    time.sleep(1.2)
    with pytest.raises(WsTicketInvalid):
        services.ws_ticket_redeem(ticket=ticket)


def test_the_ticket_is_not_stored_in_clear() -> None:
    from django.core.cache import cache

    ticket = services.ws_ticket_issue(actor=Actor(type="user", id="1"))
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
        ticket = services.ws_ticket_issue(actor=Actor(type="user", id="1"))
        results = _race(ticket)
        assert len(results) == 12
        assert results.count(True) == 1


def test_single_use_under_concurrency_on_the_configured_cache() -> None:
    ticket = services.ws_ticket_issue(actor=Actor(type="user", id="1"))
    results = _race(ticket)
    assert results.count(True) == 1
