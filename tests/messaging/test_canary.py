"""The canary (issue 14 acceptance): the original text of a redacted message reaches staff and
nothing else -- not the other parties' API responses, not the realtime events (catchup), not
the outbox jobs (notices), not the audit trail, not a log line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import Event as AuditEvent
from aventide.accounts.tokens import sign_anonymous_id
from integrations.models import Job
from messaging.models import Message, NotificationDecision
from realtime.models import Event as RealtimeEvent
from tests.accounts.factories import login_headers
from tests.messaging.conftest import ChatWorld

pytestmark = pytest.mark.django_db

# Contact data that moderation redacts, with digit runs and words found nowhere else.
PHONE = "+54 9 11 5873-6620"
EMAIL = "zorzal.canario77@gmail.com"
CANARIES = ("5873", "6620", "zorzal", "canario77", "gmail")


def _client(headers: dict[str, str]) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(**headers)
    return client


def _assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} leaked into {where}"


def test_the_redacted_original_reaches_staff_and_nothing_else(
    chat: ChatWorld, json_logs: Any
) -> None:
    order = chat.new_order()
    conversation = chat.active(order)
    seller = _client(login_headers(chat.seller))
    sent = seller.post(
        f"/api/conversations/{conversation.pk}/messages",
        {"clientMessageId": "canary-1", "body": f"llamame al {PHONE} o escribí a {EMAIL}"},
        format="json",
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["moderation"]["verdict"] == "redact"
    _assert_clean("the sender's own response", sent.content.decode())

    anon = order.recipient_anon_id
    assert anon is not None
    recipient = _client(
        {
            "HTTP_X_ANONYMOUS_ID": str(anon),
            "HTTP_X_ANONYMOUS_SIGNATURE": sign_anonymous_id(anon),
        }
    )
    buyer = _client(login_headers(chat.buyer))
    for name, client in (("buyer", buyer), ("recipient", recipient)):
        for url in (
            f"/api/conversations/{conversation.pk}/messages",
            f"/api/conversations/{conversation.pk}",
            "/api/conversations",
            "/api/realtime/catchup",
        ):
            response = client.get(url)
            assert response.status_code == 200, (name, url, response.content)
            _assert_clean(f"{name} GET {url}", response.content.decode())

    _assert_clean(
        "realtime events",
        json.dumps(list(RealtimeEvent.objects.values_list("payload", flat=True))),
    )
    _assert_clean("outbox jobs", json.dumps(list(Job.objects.values_list("payload", flat=True))))
    _assert_clean(
        "notification decisions",
        json.dumps(list(NotificationDecision.objects.values_list("detail", flat=True))),
    )
    _assert_clean("audit rows", json.dumps(list(AuditEvent.objects.values_list("data", flat=True))))
    _assert_clean("log lines", json_logs.text)

    # ... and staff do see it (the evidence is kept).
    staff = _client(login_headers(chat.staff["L1"]))
    rows = staff.get(f"/api/conversations/{conversation.pk}/messages").json()["results"]
    assert any("5873" in row.get("originalBody", "") for row in rows)
    assert Message.objects.filter(original_body__contains="zorzal").count() == 1
