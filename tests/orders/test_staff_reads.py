"""Staff read orders through the same ScopeGuard rule as staff writes (issue 7, item 6)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aventide.accounts import services as accounts
from aventide.orders.models import OrderStatus
from tests.accounts.factories import bearer

from .conftest import OrderWorld, make_staff

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**bearer(accounts.session_start(user=user, method="password").access))
    return client


def test_in_scope_staff_read_the_order_they_may_cancel(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    l3 = _client(world.staff["L3"])
    detail = l3.get(f"/api/orders/{order.pk}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["role"] == "L3" and "cancel" in body["allowedActions"]
    assert "email" not in body["recipient"]  # PII stays with the buyer who typed it
    assert [o["id"] for o in l3.get("/api/orders").json()["results"]] == [order.pk]
    assert (
        l3.post(f"/api/orders/{order.pk}/cancel", {"reason": "fraud"}, format="json").json()[
            "status"
        ]
        == OrderStatus.CANCELLED
    )


def test_out_of_scope_staff_cannot_see_an_order(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    mx_l3 = _client(make_staff("L3", ["MX"], "l3.mx.reads@t.test"))
    detail = mx_l3.get(f"/api/orders/{order.pk}")
    assert detail.status_code == 404 and detail.json()["code"] == "NOT_FOUND"
    assert mx_l3.get("/api/orders").json()["results"] == []
    assert mx_l3.get("/api/orders/987654").json()["code"] == "NOT_FOUND"  # same as missing


def test_staff_without_any_scope_see_no_orders(world: OrderWorld) -> None:
    world.order_in(OrderStatus.PAID)
    unscoped = _client(make_staff("L2", [], "l2.none.reads@t.test"))
    assert unscoped.get("/api/orders").json()["count"] == 0
