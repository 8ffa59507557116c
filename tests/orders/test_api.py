"""REST API of listings and orders: status, code and shape; parties only; attribution."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.selectors import events_for_target
from aventide.accounts.tokens import sign_anonymous_id
from aventide.ledger import selectors as ledger
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import PASSWORD, OrderWorld, make_user

pytestmark = pytest.mark.django_db


def login(client: APIClient, email: str) -> APIClient:
    response = client.post("/api/auth/login", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    return client


def as_recipient(world: OrderWorld, order: Order) -> APIClient:
    client = APIClient(raise_request_exception=False)
    anon = world.recipient(order)
    client.credentials(
        HTTP_X_ANONYMOUS_ID=str(anon.anon_id),
        HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(anon.id),
    )
    return client


def test_listings_are_public_and_filtered_by_country(
    api_client: APIClient, world: OrderWorld
) -> None:
    mx_seller = make_user("seller.mx@t.test", "MX", is_seller=True)
    services.listing_create(actor=principal(mx_seller), title="Tacos", price_minor=500)
    response = api_client.get("/api/listings?country=AR")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["title"] == "Flores"
    assert body["results"][0]["priceMinor"] == 15_000
    assert body["results"][0]["currency"] == "ARS"
    assert api_client.get("/api/listings").json()["count"] == 2


def test_listings_bad_country_is_a_validation_error(api_client: APIClient) -> None:
    response = api_client.get("/api/listings?country=argentina")
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "country" in response.json()["details"]


def test_listing_create_by_seller_and_refusal_for_buyers(
    api_client: APIClient, world: OrderWorld
) -> None:
    login(api_client, world.seller.email)
    response = api_client.post(
        "/api/listings", {"title": "Chocolates", "priceMinor": 9900}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["countryCode"], response.json()["currency"]) == ("AR", "ARS")
    buyer = login(APIClient(raise_request_exception=False), world.buyer.email)
    refused = buyer.post(
        "/api/listings", {"title": "Chocolates", "priceMinor": 9900}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "SELLER_REQUIRED"


def test_order_create_refuses_a_client_amount(api_client: APIClient, world: OrderWorld) -> None:
    login(api_client, world.buyer.email)
    refused = api_client.post(
        "/api/orders",
        {
            "listingId": world.listing.pk,
            "recipient": {"name": "Ana"},
            "amountMinor": 1,
            "currency": "USD",
        },
        format="json",
    )
    # A client amount is never used: it is refused by name (strict input), nothing is created.
    assert (refused.status_code, refused.json()["code"]) == (400, "VALIDATION_ERROR")
    assert set(refused.json()["details"]) == {"amountMinor", "currency"}
    assert not Order.objects.filter(buyer=world.buyer).exists()
    response = api_client.post(
        "/api/orders",
        {"listingId": world.listing.pk, "recipient": {"name": "Ana"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amountMinor"], body["currency"], body["status"]) == (
        15_000,
        "ARS",
        "pending_payment",
    )
    assert body["role"] == "buyer"
    assert body["allowedActions"] == ["pay", "cancel"]
    assert body["payment"] == {"status": "none"}


def test_order_create_validation_errors(api_client: APIClient, world: OrderWorld) -> None:
    login(api_client, world.buyer.email)
    response = api_client.post("/api/orders", {"listingId": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"listingId", "recipient"}
    missing = api_client.post(
        "/api/orders", {"listingId": 999_999, "recipient": {"name": "A"}}, format="json"
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")


def test_orders_need_authentication(api_client: APIClient) -> None:
    response = api_client.get("/api/orders")
    assert (response.status_code, response.json()["code"]) == (401, "AUTH_REQUIRED")


def test_order_is_visible_to_parties_only(api_client: APIClient, world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    make_user("nosy@t.test")
    login(api_client, "nosy@t.test")
    response = api_client.get(f"/api/orders/{order.pk}")
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")
    assert api_client.get("/api/orders").json()["count"] == 0
    seller = login(APIClient(), world.seller.email)
    assert seller.get(f"/api/orders/{order.pk}").json()["allowedActions"] == ["accept", "cancel"]


def test_anonymous_recipient_reaches_its_own_order_only(world: OrderWorld) -> None:
    mine = world.order_in(OrderStatus.IN_TRANSIT)
    other = world.order_in(OrderStatus.IN_TRANSIT)
    client = as_recipient(world, mine)
    response = client.get(f"/api/orders/{mine.pk}")
    assert response.status_code == 200
    assert response.json()["role"] == "recipient"
    assert "email" not in response.json()["recipient"]
    assert client.get(f"/api/orders/{other.pk}").status_code == 404
    assert client.post(f"/api/orders/{other.pk}/confirm-delivery").status_code == 404
    confirmed = client.post(f"/api/orders/{mine.pk}/confirm-delivery")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "delivered"


def test_anonymous_recipient_cannot_place_orders(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    client = as_recipient(world, order)
    response = client.post(
        "/api/orders", {"listingId": world.listing.pk, "recipient": {"name": "x"}}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (403, "ACCOUNT_REQUIRED")


def test_accept_over_http_is_attributed_in_the_audit(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    client = login(APIClient(), world.seller.email)
    response = client.post(f"/api/orders/{order.pk}/accept", HTTP_X_REQUEST_ID="req-accept-1")
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    (event,) = [
        e for e in events_for_target("order", str(order.pk)) if e.action == "order.accepted"
    ]
    assert event.actor_type == "user"
    assert event.actor_id == str(world.seller.pk)
    assert event.actor_level == "seller"
    assert event.country_code == "AR"
    assert event.request_id == "req-accept-1"


def test_invalid_transition_over_http_names_the_state(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PENDING_PAYMENT)
    client = login(APIClient(raise_request_exception=False), world.seller.email)
    response = client.post(f"/api/orders/{order.pk}/dispatch")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "INVALID_TRANSITION"
    assert body["details"]["currentState"] == "pending_payment"
    assert "pending_payment" in body["message"]


def test_buyer_cannot_accept_its_own_order(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    client = login(APIClient(raise_request_exception=False), world.buyer.email)
    response = client.post(f"/api/orders/{order.pk}/accept")
    assert (response.status_code, response.json()["code"]) == (403, "ORDER_ACTION_FORBIDDEN")


def test_cancel_over_http_refunds_a_paid_order(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    client = login(APIClient(), world.buyer.email)
    response = client.post(
        f"/api/orders/{order.pk}/cancel", {"reason": "wrong address"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert ledger.order_money(order.pk).refunded == 15_000


def test_order_response_never_says_whether_the_recipient_has_an_account(
    api_client: APIClient, world: OrderWorld
) -> None:
    make_user("friend@t.test")
    login(api_client, world.buyer.email)
    response = api_client.post(
        "/api/orders",
        {"listingId": world.listing.pk, "recipient": {"name": "F", "email": "friend@t.test"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["recipient"] == {"name": "F", "email": "friend@t.test"}


def test_listing_pages_are_capped(
    api_client: APIClient, world: OrderWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aventide.core.pagination import CappedLimitOffsetPagination

    for i in range(3):
        services.listing_create(
            actor=principal(world.seller), title=f"Item {i}", price_minor=100 + i
        )
    monkeypatch.setattr(CappedLimitOffsetPagination, "max_limit", 2)
    body = api_client.get("/api/listings?limit=100000").json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["next"]
