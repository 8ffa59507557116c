"""The chat's REST API: status, code and shape (issue 14)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from aventide.accounts.models import User
from aventide.accounts.tokens import sign_anonymous_id
from aventide.orders.models import Order
from messaging.models import Message
from tests.accounts.factories import login_headers
from tests.messaging.conftest import ChatWorld, make_staff, make_user

pytestmark = pytest.mark.django_db


def as_user(user: User) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**login_headers(user))
    return client


def as_recipient(chat: ChatWorld, order: Order) -> APIClient:
    client = APIClient(raise_request_exception=False)
    anon = chat.recipient(order)
    client.credentials(
        HTTP_X_ANONYMOUS_ID=str(anon.anon_id),
        HTTP_X_ANONYMOUS_SIGNATURE=sign_anonymous_id(anon.id),
    )
    return client


def test_order_conversation_then_activate_then_send_and_read(chat: ChatWorld) -> None:
    order = chat.new_order()
    buyer = as_user(chat.buyer)
    got = buyer.get(f"/api/orders/{order.pk}/conversation")
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["state"] == "dormant" and body["role"] == "buyer"
    cid = body["id"]

    dormant = buyer.post(
        f"/api/conversations/{cid}/messages",
        {"clientMessageId": "a1", "body": "hola"},
        format="json",
    )
    assert dormant.status_code == 409 and dormant.json()["code"] == "CONVERSATION_NOT_ACTIVE"

    bad = buyer.post(f"/api/conversations/{cid}/activate", {"reasonCode": "gossip"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"
    ok = buyer.post(
        f"/api/conversations/{cid}/activate", {"reasonCode": "address_problem"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["state"] == "active"

    sent = buyer.post(
        f"/api/conversations/{cid}/messages",
        {"clientMessageId": "a1", "body": "¿Es timbre 3B?"},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    out = sent.json()
    assert out["seq"] == 2 and out["moderation"] == {"verdict": "allow", "reasons": []}
    assert "originalBody" not in out
    retry = buyer.post(
        f"/api/conversations/{cid}/messages",
        {"clientMessageId": "a1", "body": "¿Es timbre 3B?"},
        format="json",
    )
    assert retry.status_code == 200 and retry.json()["id"] == out["id"]

    recipient = as_recipient(chat, order)
    page = recipient.get(f"/api/conversations/{cid}/messages?afterSeq=1&limit=10")
    assert page.status_code == 200, page.content
    assert [m["seq"] for m in page.json()["results"]] == [2]
    assert page.json()["lastSeq"] == 2 and page.json()["hasMore"] is False

    listing = as_user(chat.seller).get("/api/conversations")
    assert listing.status_code == 200
    (row,) = listing.json()["results"]
    assert row["id"] == cid and row["unread"] == 2


def test_redacted_original_is_staff_only(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    seller = as_user(chat.seller)
    sent = seller.post(
        f"/api/conversations/{conversation.pk}/messages",
        {"clientMessageId": "r1", "body": "mandame whatsapp al +54 9 11 4187 2290"},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["moderation"]["verdict"] == "redact"
    assert "4187" not in sent.content.decode()
    for client in (as_user(chat.buyer), as_recipient(chat, order)):
        text = client.get(f"/api/conversations/{conversation.pk}/messages").content.decode()
        assert "4187" not in text
    staff = as_user(chat.staff["L1"])
    staff_view = staff.get(f"/api/conversations/{conversation.pk}/messages").json()["results"]
    assert any("4187" in m.get("originalBody", "") for m in staff_view)


def test_blocked_send_is_422_with_reasons(chat: ChatWorld) -> None:
    conversation = chat.active()
    response = as_user(chat.buyer).post(
        f"/api/conversations/{conversation.pk}/messages",
        {"clientMessageId": "x1", "body": "sos un hijo de puta"},
        format="json",
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "MESSAGE_BLOCKED"
    assert "HARASSMENT" in body["details"]["reasons"]
    assert not Message.objects.filter(client_message_id="x1").exists()


def test_strangers_get_not_found_or_no_access_everywhere(chat: ChatWorld) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    stranger = as_user(make_user("nosy@t.test"))
    other_recipient = as_recipient(chat, chat.new_order())
    for client in (stranger, other_recipient):
        for method, url, data in (
            ("get", f"/api/conversations/{conversation.pk}", None),
            ("get", f"/api/conversations/{conversation.pk}/messages", None),
            (
                "post",
                f"/api/conversations/{conversation.pk}/messages",
                {"clientMessageId": "s", "body": "hi"},
            ),
            ("post", f"/api/conversations/{conversation.pk}/activate", {"reasonCode": "delay"}),
            ("get", f"/api/orders/{order.pk}/conversation", None),
        ):
            response = (
                getattr(client, method)(url, data, format="json")
                if data
                else getattr(client, method)(url)
            )
            assert response.status_code == 404, (url, response.content)
            assert response.json()["code"] == "NOT_FOUND_OR_NO_ACCESS"
    missing = as_user(chat.buyer).get("/api/conversations/999999")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND_OR_NO_ACCESS"
    past_bigint = 2**63  # a URL id no column can hold: a plain not-found, never a 500
    for url in (f"/api/conversations/{past_bigint}", f"/api/conversations/{past_bigint}/messages"):
        huge = as_user(chat.buyer).get(url)
        assert huge.status_code == 404 and huge.json()["code"] == "NOT_FOUND_OR_NO_ACCESS"
    huge_send = as_user(chat.buyer).post(
        f"/api/conversations/{past_bigint}/messages",
        {"clientMessageId": "h", "body": "hola"},
        format="json",
    )
    assert huge_send.status_code == 404


def test_staff_out_of_scope_gets_scope_violation_on_send(chat: ChatWorld) -> None:
    conversation = chat.active()
    mx = as_user(make_staff("L2", ["MX"], "mx.staff@t.test"))
    response = mx.post(
        f"/api/conversations/{conversation.pk}/messages",
        {"clientMessageId": "m", "body": "hola"},
        format="json",
    )
    assert response.status_code == 403 and response.json()["code"] == "SCOPE_VIOLATION"


def test_unauthenticated_is_auth_required(chat: ChatWorld) -> None:
    conversation = chat.active()
    response = APIClient(raise_request_exception=False).get(
        f"/api/conversations/{conversation.pk}/messages"
    )
    assert response.status_code == 401 and response.json()["code"] == "AUTH_REQUIRED"


@pytest.mark.parametrize("query", ["afterSeq=-1", "afterSeq=abc", "limit=0", "limit=201"])
def test_bad_paging_parameters_are_validation_errors(chat: ChatWorld, query: str) -> None:
    conversation = chat.active()
    response = as_user(chat.buyer).get(f"/api/conversations/{conversation.pk}/messages?{query}")
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("payload", "details"),
    [
        ({"body": "hola"}, {"clientMessageId": ["This field is required."]}),
        ({"clientMessageId": "a1"}, {"body": ["This field is required."]}),
        ({"clientMessageId": "a1", "body": "hola", "to": "x"}, {"to": ["Unknown field."]}),
        ({"clientMessageId": "a1", "body": 5}, {"body": ["Must be a string."]}),
        ({"clientMessageId": "a1", "body": "   "}, {"body": ["The message is empty."]}),
        ({"clientMessageId": "a 1", "body": "hola"}, None),
        ({"clientMessageId": 7, "body": "hola"}, None),
        (["a1", "hola"], {"body": ["A JSON object."]}),
    ],
)
def test_a_malformed_send_is_a_validation_error_field_by_field(
    chat: ChatWorld, payload: object, details: dict[str, list[str]] | None
) -> None:
    """The REST body is checked with the realtime frame's rules (one rule for both ways in):
    each problem named under its field, nothing stored."""
    conversation = chat.active()
    response = as_user(chat.buyer).post(
        f"/api/conversations/{conversation.pk}/messages", payload, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    if details is None:
        assert list(body["details"]) == ["clientMessageId"]
    else:
        assert body["details"] == details
    assert not Message.objects.filter(conversation=conversation, kind="user").exists()
