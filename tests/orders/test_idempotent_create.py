"""Idempotent order creation with the Idempotency-Key header (a double click buys once)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import Event
from aventide.accounts import services as accounts
from aventide.orders.models import Order
from tests.accounts.factories import bearer

from .conftest import OrderWorld

pytestmark = pytest.mark.django_db


def _client(world: OrderWorld) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**bearer(accounts.session_start(user=world.buyer, method="password").access))
    return client


def _create(client: APIClient, world: OrderWorld, key: str | None, name: str = "Ana") -> Any:
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        "/api/orders",
        {"listingId": world.listing.pk, "recipient": {"name": name}},
        format="json",
        **headers,
    )


def test_same_key_and_body_returns_the_first_order(world: OrderWorld) -> None:
    client = _client(world)
    first = _create(client, world, "order-attempt-1")
    again = _create(client, world, "order-attempt-1")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert Order.objects.count() == 1
    assert Event.objects.filter(action="order.created").count() == 1


def test_same_key_with_another_body_is_refused(world: OrderWorld) -> None:
    client = _client(world)
    assert _create(client, world, "order-attempt-2").status_code == 201
    response = _create(client, world, "order-attempt-2", name="Bruno")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "IDEMPOTENCY_KEY_REUSED" and body["requestId"]
    assert Order.objects.count() == 1


def test_keys_belong_to_one_buyer_and_no_key_creates_each_time(world: OrderWorld) -> None:
    client = _client(world)
    assert _create(client, world, None).status_code == 201
    assert _create(client, world, None).status_code == 201
    other = APIClient(raise_request_exception=False)
    someone = accounts.session_start(user=world.staff["L1"], method="password").access
    other.credentials(**bearer(someone))
    assert _create(client, world, "shared-key").status_code == 201
    assert _create(other, world, "shared-key").status_code == 201  # another buyer's key
    assert Order.objects.count() == 4


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "has space", "tab\tkey"])
def test_a_malformed_key_is_a_validation_error(world: OrderWorld, key: str) -> None:
    response = _create(_client(world), world, key)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert Order.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_20_concurrent_creates_with_one_key_make_one_order(countries: list[str]) -> None:
    world = OrderWorld("AR")
    token = accounts.session_start(user=world.buyer, method="password").access
    threads, statuses, ids = 20, [], []
    barrier = threading.Barrier(threads)
    lock = threading.Lock()

    def create() -> None:
        client = APIClient(raise_request_exception=False)
        client.credentials(**bearer(token))
        try:
            barrier.wait(timeout=60)
            response = _create(client, world, "double-click-7")
            with lock:
                statuses.append(response.status_code)
                ids.append(response.json().get("id"))
        finally:
            connection.close()

    workers = [threading.Thread(target=create) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert Counter(statuses) == {201: 1, 200: threads - 1}
    assert len(set(ids)) == 1
    assert Order.objects.filter(buyer=world.buyer).count() == 1
    assert Event.objects.filter(action="order.created").count() == 1


def test_a_key_of_255_characters_works_and_256_is_a_validation_error(world: OrderWorld) -> None:
    client = _client(world)
    longest = "k" * 255
    assert _create(client, world, longest).status_code == 201
    assert _create(client, world, longest).status_code == 200  # the limit itself dedupes
    response = _create(client, world, "k" * 256)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR" and "Idempotency-Key" in body["details"]
    assert Order.objects.count() == 1


def test_the_service_itself_bounds_the_key_for_other_callers(world: OrderWorld) -> None:
    """Admin actions, commands and tasks call order_create without the API's header check."""
    from aventide.core.errors import DomainError
    from aventide.orders import services
    from tests.accounts.factories import principal

    def create(key: str) -> Any:
        return services.order_create(
            actor=principal(world.buyer),
            listing_id=world.listing.pk,
            recipient_name="Ana",
            idempotency_key=key,
        )

    assert create("s" * 255).created
    with pytest.raises(DomainError) as exc:
        create("s" * 256)
    assert exc.value.code == "VALIDATION_ERROR"
    assert exc.value.details == {"idempotencyKey": ["At most 255 characters."]}
    assert Order.objects.count() == 1
