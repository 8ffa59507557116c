"""The OpenAPI schema describes the order endpoints as they really answer."""

from __future__ import annotations

import yaml


def test_list_endpoints_are_documented_as_capped_pages(client) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path, page in (("/api/orders", "OrderPage"), ("/api/listings", "ListingPage")):
        get = schema["paths"][path]["get"]
        ref = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith(page)
        assert {"limit", "offset"} <= {p["name"] for p in get["parameters"]}
        props = schema["components"]["schemas"][page]["properties"]
        assert set(props) == {"count", "next", "previous", "results"}


def test_order_payloads_are_camel_case(client) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    order_in = schema["components"]["schemas"]["OrderInRequest"]["properties"]
    assert set(order_in) == {"listingId", "recipient"}
    assert "allowedActions" in schema["components"]["schemas"]["OrderOut"]["properties"]


def test_order_and_me_answers_have_exactly_their_documented_fields(world, client) -> None:
    """The views render the selectors' dicts directly: they must keep the schema's shape."""
    from aventide.accounts import services as accounts
    from aventide.orders.models import OrderStatus

    schema = yaml.safe_load(client.get("/api/schema/").content)["components"]["schemas"]
    order = world.order_in(OrderStatus.PAID)
    token = accounts.session_start(user=world.buyer, method="password").access
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = client.get(f"/api/orders/{order.pk}", **auth).json()
    assert set(body) == set(schema["OrderOut"]["properties"])
    assert body["paidAt"].endswith("Z") and body["acceptedAt"] is None
    me = client.get("/api/auth/me", **auth).json()
    assert set(me) == set(schema["MeOut"]["properties"])
