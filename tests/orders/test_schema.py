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
