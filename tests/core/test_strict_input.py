"""Strict input on every write endpoint (aventide.core.serializers), one class per section:

1. unknown keys answer 400 ``VALIDATION_ERROR`` naming them (camelCase, nested too);
2. integers must be JSON integers (no ``"100"``, ``100.0``, ``true``), booleans JSON booleans;
3. text is normalised and blank-after-cleaning refused (invisible/format-only titles);
4. emails refuse invisible characters; passwords stay exactly as typed.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from audit.selectors import events_for_target
from aventide.accounts.models import User
from aventide.orders.models import Listing, Order, OrderStatus
from messaging.models import Conversation
from tests.accounts.factories import PASSWORD, issue_anon, login_headers, make_staff
from tests.orders.conftest import OrderWorld
from tests.realtime.push_helpers import enable_push

pytestmark = pytest.mark.django_db

#: Strings that render as nothing (or only blanks): format characters, BOM, bidi marks,
#: word joiners, Hangul fillers, braille blank, ideographic/em/no-break spaces, controls.
INVISIBLE_ONLY = [
    "\u200b\u200b\u200b",  # ZERO WIDTH SPACE
    "\ufeff\u2060\u00ad",  # BOM, WORD JOINER, SOFT HYPHEN
    "\u202e\u202d\u200f\u200e\u2066\u2069",  # bidi overrides, marks, isolates
    "\u3164\u3164\u3164",  # HANGUL FILLER (a letter that renders blank)
    "\u2800\u2800\u2800",  # BRAILLE PATTERN BLANK
    " \u00a0\u2003\u3000 ",  # ordinary, no-break, em and ideographic spaces
    "\u200c\u200d\u034f\ufe0f",  # ZWNJ, ZWJ, combining grapheme joiner, variation selector
    "\x1b\x7f\x85\u2028\u2029",  # controls, line/paragraph separators
    "\U000e0001\U000e0020\U000e007f",  # tag characters
]


@pytest.fixture
def world(countries: list[str], settings: Any) -> OrderWorld:
    enable_push(settings)  # off, the push endpoints answer 503 PUSH_DISABLED by design
    return OrderWorld("AR")


def client_for(user: User | None = None) -> APIClient:
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.credentials(**login_headers(user))
    return client


def assert_validation_error(response: Any, *fields: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert {"error", "code", "message", "requestId"} <= set(body)
    for name in fields:
        assert name in body["details"], body["details"]
    details: dict[str, Any] = body["details"]
    return details


# --- 1. unknown keys -----------------------------------------------------------------------


def test_strict_input_unknown_fields_are_named_on_register(
    api_client: APIClient, countries: list[str]
) -> None:
    response = api_client.post(
        "/api/auth/register",
        {
            "email": "new@example.test",
            "password": PASSWORD,
            "countryCode": "AR",
            "isStaff": True,
            "isSuperuser": True,
        },
        format="json",
    )
    details = assert_validation_error(response, "isStaff", "isSuperuser")
    assert details["isStaff"] == ["Unknown field."]
    assert not User.objects.filter(email="new@example.test").exists()


def test_strict_input_unknown_fields_are_named_on_login_refresh_and_google(
    api_client: APIClient,
) -> None:
    login = api_client.post(
        "/api/auth/login",
        {"email": "a@example.test", "password": PASSWORD, "rememberMe": True},
        format="json",
    )
    assert set(assert_validation_error(login, "rememberMe")) == {"rememberMe"}
    refresh = api_client.post(
        "/api/auth/refresh", {"refresh": "x", "refreshToken": "y"}, format="json"
    )
    assert set(assert_validation_error(refresh, "refreshToken")) == {"refreshToken"}
    google = api_client.post("/api/auth/google", {"idToken": "t", "nonce": "n"}, format="json")
    assert_validation_error(google, "nonce")


def test_strict_input_unknown_fields_are_named_on_logout_and_staff_revoke(
    world: OrderWorld,
) -> None:
    buyer = client_for(world.buyer)
    logout = buyer.post("/api/auth/logout", {"everywhere": True, "allDevices": True}, format="json")
    assert_validation_error(logout, "allDevices")
    assert client_for(world.buyer).get("/api/auth/me").status_code == 200  # nothing revoked
    staff = client_for(make_staff(level="L2", countries=("AR",)))
    issued = issue_anon(order_id=1, country_code="AR")
    revoke = staff.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": "AR", "anonId": str(issued.anon_id), "reason": "leak", "notify": True},
        format="json",
    )
    assert_validation_error(revoke, "notify")


def test_strict_input_unknown_fields_are_named_on_listings_orders_and_cancel(
    world: OrderWorld,
) -> None:
    seller = client_for(world.seller)
    listing = seller.post(
        "/api/listings",
        {"title": "Chocolates", "priceMinor": 900, "currency": "USD", "countryCode": "MX"},
        format="json",
    )
    assert set(assert_validation_error(listing, "currency", "countryCode")) == {
        "currency",
        "countryCode",
    }
    assert not Listing.objects.filter(title="Chocolates").exists()

    buyer = client_for(world.buyer)
    order = buyer.post(
        "/api/orders",
        {"listingId": world.listing.pk, "recipient": {"name": "Ana", "phoneNumber": "+54 11"}},
        format="json",
    )
    details = assert_validation_error(order, "recipient")
    assert details["recipient"] == {"phoneNumber": ["Unknown field."]}  # nested: strict too
    assert not Order.objects.exists()

    paid = world.order_in(OrderStatus.PAID)
    cancel = buyer.post(
        f"/api/orders/{paid.pk}/cancel", {"reason": "late", "refundMinor": 1}, format="json"
    )
    assert_validation_error(cancel, "refundMinor")
    paid.refresh_from_db()
    assert paid.status == OrderStatus.PAID


def test_strict_input_unknown_and_invalid_fields_are_reported_together(
    world: OrderWorld,
) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": "", "priceMinor": "9", "promo": 1}, format="json"
    )
    assert set(assert_validation_error(response)) == {"title", "priceMinor", "promo"}


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return schema


#: operationId -> why its body is not ours to make strict.
PROVIDER_DEFINED_BODIES: dict[str, str] = {
    "integrations_webhook_receive": "a provider's event: providers add fields at will; the "
    "signature authenticates the bytes and the handlers read only what they need",
}


def test_strict_input_every_write_endpoint_refuses_an_unknown_field(world: OrderWorld) -> None:
    """Enumerates every operation with a request body in the OpenAPI schema: the body schema
    says ``additionalProperties: false`` and the endpoint refuses an unknown key by name."""
    schema = _schema()
    staff = make_staff(level="L2", countries=("AR",))  # a registered user that passes every
    order = world.order_in(OrderStatus.PAID)  # permission, so validation is what answers
    operations = 0
    exempt_seen: set[str] = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            if operation["operationId"] in PROVIDER_DEFINED_BODIES:
                exempt_seen.add(operation["operationId"])
                continue
            operations += 1
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            assert component.get("additionalProperties") is False, operation["operationId"]
            url = path.replace("{order_id}", str(order.pk)).replace(
                "{conversation_id}", str(Conversation.objects.get(order_id=order.pk).pk)
            )
            response = getattr(client_for(staff), method)(url, {"zzNotAField": 1}, format="json")
            details = assert_validation_error(response, "zzNotAField")
            assert details["zzNotAField"] == ["Unknown field."], operation["operationId"]
    assert (
        operations >= 9
    )  # register, login, refresh, logout, google, revoke, listing, order, cancel
    assert exempt_seen == set(PROVIDER_DEFINED_BODIES), "stale PROVIDER_DEFINED_BODIES"


# --- 2. JSON types -------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["100", 100.0, 100.5, True, "1e2", None, [100], {"v": 100}])
def test_strict_input_price_must_be_a_json_integer(world: OrderWorld, price: Any) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": "Chocolates", "priceMinor": price}, format="json"
    )
    assert set(assert_validation_error(response, "priceMinor")) == {"priceMinor"}
    assert not Listing.objects.filter(title="Chocolates").exists()


def test_strict_input_integer_price_is_accepted(world: OrderWorld) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": "Chocolates", "priceMinor": 100}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["priceMinor"] == 100


@pytest.mark.parametrize("listing_id", ["1", 1.0, True, 2**63])
def test_strict_input_listing_id_must_be_a_json_integer_in_range(
    world: OrderWorld, listing_id: Any
) -> None:
    if listing_id == 1.0:
        listing_id = float(world.listing.pk)
    response = client_for(world.buyer).post(
        "/api/orders", {"listingId": listing_id, "recipient": {"name": "Ana"}}, format="json"
    )
    assert_validation_error(response, "listingId")
    assert not Order.objects.exists()


@pytest.mark.parametrize("everywhere", ["true", 1, "yes"])
def test_strict_input_booleans_must_be_json_booleans(world: OrderWorld, everywhere: Any) -> None:
    response = client_for(world.buyer).post(
        "/api/auth/logout", {"everywhere": everywhere}, format="json"
    )
    assert_validation_error(response, "everywhere")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/login", {"email": 12345, "password": PASSWORD}, "email"),
        ("/api/auth/login", {"email": "a@example.test", "password": 12345678}, "password"),
        ("/api/auth/refresh", {"refresh": 42}, "refresh"),
        (
            "/api/auth/register",
            {"email": "x@example.test", "password": PASSWORD, "countryCode": "AR", "fullName": 7},
            "fullName",
        ),
    ],
)
def test_strict_input_strings_must_be_json_strings(
    api_client: APIClient, path: str, body: dict[str, Any], field: str
) -> None:
    assert_validation_error(api_client.post(path, body, format="json"), field)


def test_strict_input_uuid_must_be_a_string(world: OrderWorld) -> None:
    staff = client_for(make_staff(level="L2", countries=("AR",)))
    response = staff.post(
        "/api/auth/staff/anonymous-identities/revoke",
        {"countryCode": "AR", "anonId": 5},
        format="json",
    )
    assert_validation_error(response, "anonId")


# --- 3. text normalisation -------------------------------------------------------------------


@pytest.mark.parametrize("title", INVISIBLE_ONLY)
def test_strict_input_invisible_only_title_is_blank(world: OrderWorld, title: str) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": title, "priceMinor": 100}, format="json"
    )
    assert_validation_error(response, "title")
    assert Listing.objects.count() == 1  # only the world's listing


@pytest.mark.parametrize("name", INVISIBLE_ONLY[:5])
def test_strict_input_invisible_only_recipient_name_is_blank(world: OrderWorld, name: str) -> None:
    response = client_for(world.buyer).post(
        "/api/orders", {"listingId": world.listing.pk, "recipient": {"name": name}}, format="json"
    )
    assert set(assert_validation_error(response, "recipient")["recipient"]) == {"name"}


def test_strict_input_invisible_full_name_is_stored_blank(
    api_client: APIClient, countries: list[str]
) -> None:
    response = api_client.post(
        "/api/auth/register",
        {
            "email": "quiet@example.test",
            "password": PASSWORD,
            "countryCode": "AR",
            "fullName": "\u200b\u3164 ",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert User.objects.get(email="quiet@example.test").full_name == ""


def test_strict_input_title_is_normalised_and_trimmed(world: OrderWorld) -> None:
    decomposed = "\ufeff\u200b Cafe\u0301 con leche \u2060\u00a0"
    response = client_for(world.seller).post(
        "/api/listings", {"title": decomposed, "priceMinor": 100}, format="json"
    )
    assert response.status_code == 201, response.content
    title = response.json()["title"]
    assert title == "Caf\u00e9 con leche"  # NFC, invisible ends gone
    assert unicodedata.is_normalized("NFC", title)
    assert Listing.objects.get(pk=response.json()["id"]).title == title


def test_strict_input_title_keeps_emoji_sequences(world: OrderWorld) -> None:
    title = "Flores \u2764\ufe0f \U0001f469\u200d\U0001f469\u200d\U0001f467"
    response = client_for(world.seller).post(
        "/api/listings", {"title": title, "priceMinor": 100}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["title"] == title


def test_strict_input_min_length_counts_visible_text(world: OrderWorld) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": "ab\u200b\u200b\u200b", "priceMinor": 100}, format="json"
    )
    assert_validation_error(response, "title")


@pytest.mark.parametrize("title", ["Flo\x1bres", "Flo\x00res", "Flores\nbaratas", "A\u2028B C"])
def test_strict_input_control_characters_inside_a_title_are_refused(
    world: OrderWorld, title: str
) -> None:
    response = client_for(world.seller).post(
        "/api/listings", {"title": title, "priceMinor": 100}, format="json"
    )
    assert_validation_error(response, "title")


def test_strict_input_cancel_reason_may_span_lines_and_is_trimmed(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.PAID)
    response = client_for(world.buyer).post(
        f"/api/orders/{order.pk}/cancel",
        {"reason": "\u200bwrong address\r\nplease refund\u200b"},
        format="json",
    )
    assert response.status_code == 200, response.content
    (event,) = [
        e for e in events_for_target("order", str(order.pk)) if e.action == "order.cancelled"
    ]
    assert event.data["reason"] == "wrong address\nplease refund"


# --- 4. emails and passwords -----------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "buy\u200ber@example.test",
        "\u200bbuyer@example.test",
        "buyer@exam\u00adple.test",
        "buyer@example.test\u2060",
        "buyer\u202e@example.test",
    ],
)
def test_strict_input_emails_with_invisible_characters_are_refused(
    api_client: APIClient, countries: list[str], email: str
) -> None:
    register = api_client.post(
        "/api/auth/register",
        {"email": email, "password": PASSWORD, "countryCode": "AR"},
        format="json",
    )
    assert_validation_error(register, "email")
    assert not User.objects.exists()
    login = api_client.post(
        "/api/auth/login", {"email": email, "password": PASSWORD}, format="json"
    )
    assert_validation_error(login, "email")


def test_strict_input_recipient_email_with_invisible_characters_is_refused(
    world: OrderWorld,
) -> None:
    response = client_for(world.buyer).post(
        "/api/orders",
        {"listingId": world.listing.pk, "recipient": {"name": "Ana", "email": "a\u200b@x.test"}},
        format="json",
    )
    assert set(assert_validation_error(response, "recipient")["recipient"]) == {"email"}


def test_strict_input_fullwidth_email_is_nfkc_normalised(
    api_client: APIClient, countries: list[str]
) -> None:
    response = api_client.post(
        "/api/auth/register",
        {"email": "\uff41na@example.test", "password": PASSWORD, "countryCode": "AR"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert User.objects.filter(email="ana@example.test").exists()


def test_strict_input_passwords_are_kept_exactly_as_typed(
    api_client: APIClient, countries: list[str]
) -> None:
    password = "  Cafe\u0301-Horse-Battery-9\u200b  "  # spaces, decomposed accent, ZWSP
    response = api_client.post(
        "/api/auth/register",
        {"email": "exact@example.test", "password": password, "countryCode": "AR"},
        format="json",
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(email="exact@example.test")
    assert user.check_password(password)
    for variant in (password.strip(), unicodedata.normalize("NFC", password)):
        login = api_client.post(
            "/api/auth/login", {"email": "exact@example.test", "password": variant}, format="json"
        )
        assert (login.status_code, login.json()["code"]) == (401, "INVALID_CREDENTIALS")
    login = api_client.post(
        "/api/auth/login", {"email": "exact@example.test", "password": password}, format="json"
    )
    assert login.status_code == 200
