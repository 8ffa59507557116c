"""One rule for account-only endpoints, enumerated from the OpenAPI schema (which
drf-spectacular builds from the URL conf): no credentials -> 401 ``AUTH_REQUIRED``; a valid
anonymous identity (a recipient's signed link) -> 403 ``ACCOUNT_REQUIRED``, and the schema
documents that 403. Every operation is account-only unless this file says why not, so a new
endpoint is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from aventide.accounts.tokens import sign_anonymous_id
from aventide.orders.models import Order, OrderStatus
from messaging.models import Conversation
from tests.accounts.factories import issue_anon
from tests.orders.conftest import OrderWorld
from tests.realtime.push_helpers import enable_push

pytestmark = pytest.mark.django_db

#: operationId -> why an anonymous identity is not refused with ACCOUNT_REQUIRED there.
NOT_ACCOUNT_ONLY: dict[str, str] = {
    "auth_register": "public: credentials in the body, no token processing",
    "auth_login": "public: credentials in the body",
    "auth_refresh": "public: the refresh token is the credential",
    "auth_google": "public: the Google ID token is the credential",
    "auth_ws_token": "recipients open the WebSocket too",
    "listings_list": "public catalogue",
    "orders_list": "a recipient lists its one order",
    "orders_retrieve": "a recipient reads its own order (others: 404)",
    "orders_confirm_delivery": "the recipient confirms delivery",
    "orders_accept": "decided by the order's role table (ORDER_ACTION_FORBIDDEN / 404)",
    "orders_dispatch": "decided by the order's role table (ORDER_ACTION_FORBIDDEN / 404)",
    "orders_cancel": "decided by the order's role table (ORDER_ACTION_FORBIDDEN / 404)",
    "integrations_webhook_receive": "providers call it: the webhook signature authenticates",
    "realtime_catchup": "a recipient catches up on its own order's events",
    "push_vapid_public_key": "public: the browser's applicationServerKey",
    "push_subscriptions_list": "recipients get push too: their own subscriptions",
    "push_subscriptions_create": "recipients subscribe with their signed identity",
    "push_subscriptions_delete": "recipients drop their own subscriptions (others': 404)",
    "conversations_list": "a recipient lists its order's chat",
    "conversations_retrieve": "a recipient reads its order's chat (others: 404)",
    "orders_conversation": "a recipient opens its order's chat",
    "conversations_activate": "a recipient opens the chat with a reason",
    "conversations_messages_list": "a recipient reads its order's chat",
    "conversations_messages_send": "a recipient writes in its order's chat",
    "conversations_report": "a recipient reports a message of its order's chat",
    "conversations_ack": "a recipient acks delivered/read in its order's chat",
    "conversations_reconcile": "a recipient reconciles its order's chat",
}


@pytest.fixture
def world(countries: list[str], settings: Any) -> OrderWorld:
    enable_push(settings)  # off, the push endpoints answer 503 PUSH_DISABLED by design
    return OrderWorld("AR")


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _recipient_client(order: Order) -> APIClient:
    client = APIClient(raise_request_exception=False)
    assert order.recipient_anon_id is not None
    client.credentials(
        HTTP_X_ANONYMOUS_ID=str(order.recipient_anon_id),
        HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(order.recipient_anon_id),
    )
    return client


def _call(client: APIClient, path: str, method: str, order: Order) -> Any:
    conversation = Conversation.objects.get(order_id=order.pk)
    url = path.replace("{order_id}", str(order.pk)).replace(
        "{conversation_id}", str(conversation.pk)
    )
    return getattr(client, method)(url, {} if method != "get" else None, format="json")


def test_account_only_routes_answer_account_required_to_an_anonymous_identity(
    world: OrderWorld,
) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)  # the identity's own order
    account_only = [op for op in _operations() if op[2]["operationId"] not in NOT_ACCOUNT_ONLY]
    assert len(account_only) >= 6  # me, logout, 2 staff, listings_create, orders_create
    for path, method, operation in account_only:
        name = operation["operationId"]
        response = _call(_recipient_client(order), path, method, order)
        assert (response.status_code, response.json()["code"]) == (403, "ACCOUNT_REQUIRED"), name
        assert response.json()["requestId"], name
        anonymous = _call(APIClient(raise_request_exception=False), path, method, order)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "AUTH_REQUIRED"), name
        assert "ACCOUNT_REQUIRED" in operation["responses"]["403"]["description"], name


def test_account_only_routes_recognise_a_forged_anonymous_identity(world: OrderWorld) -> None:
    """The anonymous headers are checked (not ignored) on account-only routes too."""
    order = world.order_in(OrderStatus.PAID)
    issued = issue_anon(order_id=order.pk)
    for path, method, operation in _operations():
        if operation["operationId"] in NOT_ACCOUNT_ONLY:
            continue
        client = APIClient(raise_request_exception=False)
        client.credentials(
            HTTP_X_ANONYMOUS_ID=str(issued.anon_id), HTTP_X_ANONYMOUS_SIGNATURE="forged"
        )
        response = _call(client, path, method, order)
        assert (response.status_code, response.json()["code"]) == (
            401,
            "ANON_SIGNATURE_INVALID",
        ), operation["operationId"]


def test_routes_open_to_recipients_never_answer_account_required(world: OrderWorld) -> None:
    order = world.order_in(OrderStatus.IN_TRANSIT)
    seen = set()
    for path, method, operation in _operations():
        name = operation["operationId"]
        if name not in NOT_ACCOUNT_ONLY:
            continue
        seen.add(name)
        response = _call(_recipient_client(order), path, method, order)
        assert response.status_code < 500, name
        if response.status_code >= 400:
            assert response.json()["code"] != "ACCOUNT_REQUIRED", name
        description = operation["responses"].get("403", {}).get("description", "")
        assert "ACCOUNT_REQUIRED" not in description, name
    assert seen == set(NOT_ACCOUNT_ONLY), "stale entries in NOT_ACCOUNT_ONLY"
