"""No client input class gives a 5xx: hostile JSON bodies answer 400/413/415 in the contract.

Regression of issue 7 item 1: 500+ levels of ``[`` used to end in a RecursionError (500
INTERNAL_ERROR, and METRIC_AUTH_5XX on /api/auth/login for a 1 KB unauthenticated request).
"""

from __future__ import annotations

from typing import Any

import pytest

from aventide.core import metrics
from aventide.core.parsers import json_depth, loads_strict
from aventide.orders import services as orders
from tests.accounts.factories import login_headers, make_user, principal

pytestmark = pytest.mark.django_db

DEEP_LIST = b"[" * 600 + b"]" * 600
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000
DEEP_MIXED = b'{"x":[' * 300 + b"]}" * 300


@pytest.fixture
def callers(countries: list[str]) -> dict[str, dict[str, str]]:
    """Headers per endpoint: the public auth endpoints need none, the others a seller's token."""
    seller = make_user(email="seller.json@example.test", is_seller=True)
    listing = orders.listing_create(actor=principal(seller), title="Flores", price_minor=1500)
    buyer = make_user(email="buyer.json@example.test")
    order = orders.order_create(
        actor=principal(buyer), listing_id=listing.pk, recipient_name="Ana"
    ).order
    return {
        "/api/auth/login": {},
        "/api/auth/register": {},
        "/api/auth/refresh": {},
        "/api/listings": login_headers(seller),
        "/api/orders": login_headers(buyer),
        f"/api/orders/{order.pk}/cancel": login_headers(buyer),
        "/api/auth/logout": login_headers(buyer),
    }


def _post(api_client: Any, path: str, body: bytes, headers: dict[str, str], **extra: Any) -> Any:
    content_type = extra.pop("content_type", "application/json")
    return api_client.generic("POST", path, body, content_type=content_type, **headers, **extra)


def _assert_contract(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["code"] == code
    assert {"error", "code", "message", "requestId"} <= set(body)
    assert body["requestId"] and response["X-Request-ID"] == body["requestId"]
    return body


@pytest.mark.parametrize("body", [DEEP_LIST, DEEP_OBJECT, DEEP_MIXED], ids=["list", "obj", "mix"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/listings",
        "/api/orders",
        "cancel",
        "/api/auth/logout",
    ],
)
def test_deeply_nested_json_is_a_400_on_every_endpoint(
    api_client, callers, json_logs, path: str, body: bytes
) -> None:
    if path == "cancel":
        path = next(p for p in callers if p.endswith("/cancel"))
    before = metrics.count_of("METRIC_AUTH_5XX", route=path, status="500")
    response = _post(api_client, path, body, callers[path])
    answer = _assert_contract(response, 400, "VALIDATION_ERROR")
    assert "nested too deeply" in answer["message"]
    assert metrics.count_of("METRIC_AUTH_5XX", route=path, status="500") == before
    assert not json_logs.events("METRIC_AUTH_5XX")
    assert not json_logs.events("UNHANDLED_EXCEPTION")


def test_the_depth_cap_is_a_setting(api_client, settings) -> None:
    settings.API_JSON_MAX_DEPTH = 3
    body = b'{"email": [[["x"]]], "password": "p"}'  # 4 levels
    answer = _assert_contract(
        _post(api_client, "/api/auth/login", body, {}), 400, "VALIDATION_ERROR"
    )
    assert "at most 3 levels" in answer["message"]
    settings.API_JSON_MAX_DEPTH = 4
    response = _post(api_client, "/api/auth/login", body, {})
    # past the parser: the serializer refuses a list for an email
    assert response.status_code == 400 and "email" in response.json()["details"]


HOSTILE_BODIES = {
    "invalid-utf8": b'{"email": "\xff\xfe@x.test", "password": "p"}',
    "nan": b'{"email": NaN, "password": "p"}',
    "infinity": b'{"email": "a@x.test", "password": Infinity}',
    "minus-infinity": b'{"email": -Infinity, "password": "p"}',
    "float-overflow": b'{"email": 1e999999, "password": "p"}',
    "huge-integer": b'{"email": ' + b"9" * 5000 + b', "password": "p"}',
    "lone-surrogate": b'{"email": "a\\ud800@x.test", "password": "p"}',
    "lone-surrogate-key": b'{"\\udfff": "x", "email": "a@x.test", "password": "p"}',
    "truncated": b'{"email": "a@x.test", "password": ',
    "unterminated-string": b'{"email": "a@x.test\\", "password": [[[[',
    "top-level-array": b'[{"email": "a@x.test", "password": "p"}]',
    "top-level-string": b'"hello"',
    "nul-in-string": b'{"email": "a\\u0000@x.test", "password": "p\\u0000"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/listings"])
def test_hostile_json_bodies_are_400_never_5xx(
    api_client, callers, json_logs, name: str, path: str
) -> None:
    response = _post(api_client, path, HOSTILE_BODIES[name], callers[path])
    _assert_contract(response, 400, "VALIDATION_ERROR")
    assert not json_logs.events("UNHANDLED_EXCEPTION")
    assert not json_logs.events("METRIC_AUTH_5XX")


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        ("text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("multipart/form-data; boundary=xyz", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/xml", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/json; charset=hex", 400, "VALIDATION_ERROR"),
        ("application/json; charset=rot13", 400, "VALIDATION_ERROR"),
        ("application/json; charset=utf-32", 400, "VALIDATION_ERROR"),
    ],
)
@pytest.mark.parametrize("path", ["/api/auth/login", "/api/orders"])
def test_wrong_content_types_and_charsets_are_4xx(
    api_client, callers, content_type: str, status: int, code: str, path: str
) -> None:
    body = b'{"email": "\xc3\xa9@x.test", "password": "p"}'
    response = _post(api_client, path, body, callers[path], content_type=content_type)
    _assert_contract(response, status, code)


def test_a_client_request_id_is_kept_on_the_400(api_client) -> None:
    response = _post(api_client, "/api/auth/login", DEEP_LIST, {}, HTTP_X_REQUEST_ID="probe-1.a_b")
    assert _assert_contract(response, 400, "VALIDATION_ERROR")["requestId"] == "probe-1.a_b"


def test_valid_json_with_escaped_emoji_still_works(api_client, callers) -> None:
    # a surrogate PAIR (how ensure_ascii encoders send emoji) is valid Unicode
    body = b'{"title": "Flores \\ud83c\\udf39 rojas", "priceMinor": 1500}'
    response = _post(api_client, "/api/listings", body, callers["/api/listings"])
    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Flores \U0001f339 rojas"


def test_body_over_the_limit_is_413_in_the_parser_too(api_client, callers, settings) -> None:
    """Defense in depth: Django's test client does not pass through the ASGI middleware."""
    settings.API_MAX_BODY_BYTES = 2048
    body = b'{"title": "' + b"x" * 4096 + b'", "priceMinor": 1500}'
    response = _post(api_client, "/api/listings", body, callers["/api/listings"])
    answer = _assert_contract(response, 413, "PAYLOAD_TOO_LARGE")
    assert "2048 bytes" in answer["message"]


# --- the scanner itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("{}", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[{{{{"}', 1),
        ('["\\"[[[", "\\\\", [2]]', 2),
        ('"[[[', 0),  # unterminated string: the rest is inside it
        ("[" * 10_000, 10_000),
    ],
)
def test_json_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_is_linear_on_pathological_strings() -> None:
    # quadratic backtracking here would take minutes; the linear scan takes milliseconds
    assert json_depth('"\\"' * 300_000) == 0
    assert json_depth('"' + "a\\" * 300_000) == 0


def test_loads_strict_accepts_the_cap_and_refuses_one_more() -> None:
    assert loads_strict("[" * 32 + "]" * 32, max_depth=32) is not None
    from aventide.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        loads_strict("[" * 33 + "]" * 33, max_depth=32)


def test_operations_with_a_body_document_413_and_415(api_client) -> None:
    import yaml

    schema = yaml.safe_load(api_client.get("/api/schema/").content)
    with_body = [
        op for item in schema["paths"].values() for op in item.values() if "requestBody" in op
    ]
    assert with_body
    for operation in with_body:
        for status in ("413", "415"):
            ref = operation["responses"][status]["content"]["application/json"]["schema"]
            assert ref == {"$ref": "#/components/schemas/Error"}
