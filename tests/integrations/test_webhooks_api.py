"""POST /api/integrations/webhooks/<provider>: verification, the error contract, storing once.

Every refused delivery (bad or stale signature, unknown provider, oversized or malformed
body) answers the error contract and stores nothing; an accepted one answers 200 fast and is
processed after commit by the handler registered for its type."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import stripe

from audit.models import Event as AuditEvent
from aventide.asgi import application
from integrations import webhook_services
from integrations.models import WebhookEvent
from integrations.signing import sign
from tests.conftest import JsonLogs
from tests.integrations.webhook_helpers import (
    COURIER_SECRET,
    OLD_SECRET,
    SECRET,
    URL,
    Calls,
    captured_fixture,  # noqa: F401  # fixture
    event_body,
    handlers_fixture,  # noqa: F401  # fixture
    signed_headers,
    webhook_settings_fixture,  # noqa: F401  # fixture
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings")]

KIB = 1024
LIMIT = 256 * KIB

Post = Callable[..., Any]


@pytest.fixture
def post(api_client: Any, django_capture_on_commit_callbacks: Any) -> Post:
    """POST raw bytes to a provider's endpoint, running the after-commit effects (the
    processing task, eager in tests) like a committed request would."""

    def send(provider: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return api_client.post(
                URL.format(provider), data=body, content_type="application/json", **(headers or {})
            )

    return send


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["code"] == code
    assert set(body) >= {"error", "code", "message", "requestId"}
    assert body["requestId"] and response["X-Request-ID"] == body["requestId"]
    return dict(body)


def test_webhook_receive_accepts_a_signed_event_and_processes_it_once(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_1")
    response = post("payments", body, signed_headers(body))
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type) == (
        "payments",
        "evt_1",
        "payment.captured",
    )
    assert event.status == WebhookEvent.Status.PROCESSED and event.attempts == 1
    assert event.signed_at is not None and event.processed_at is not None
    assert captured.by_event == {"evt_1": 1}
    handled = captured.events[0]
    assert handled.payload["data"]["object"]["metadata"]["order_id"] == "42"
    assert handled.payload["data"]["object"]["amount"] == 1500
    actions = list(
        AuditEvent.objects.filter(target_type="webhook_event").values_list("action", "actor_level")
    )
    assert sorted(actions) == [
        ("integration.webhook_processed", "L0"),
        ("integration.webhook_received", "L0"),
    ]


def test_webhook_receive_duplicate_answers_200_and_is_not_processed_again(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_dup")
    first = post("payments", body, signed_headers(body))
    again = post("payments", body, signed_headers(body))
    assert first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert WebhookEvent.objects.count() == 1
    assert captured.by_event == {"evt_dup": 1}
    assert AuditEvent.objects.filter(action="integration.webhook_received").count() == 1


@pytest.mark.parametrize(
    "make_headers",
    [
        pytest.param(lambda body: {}, id="missing"),
        pytest.param(lambda body: signed_headers(body, secret="wrong"), id="wrong-secret"),
        pytest.param(lambda body: signed_headers(body + b" "), id="other-body"),
        pytest.param(
            lambda body: signed_headers(body, timestamp=int(time.time()) - 301), id="stale"
        ),
        pytest.param(
            lambda body: signed_headers(body, timestamp=int(time.time()) + 301), id="future"
        ),
        pytest.param(lambda body: {"HTTP_X_AVENTIDE_SIGNATURE": "t=abc,v1=zz"}, id="garbage"),
        pytest.param(
            lambda body: {"HTTP_X_AVENTIDE_SIGNATURE": sign(body, secret=COURIER_SECRET)},
            id="another-providers-secret",
        ),
    ],
)
def test_webhook_receive_bad_signature_is_400_and_stores_nothing(
    post: Post, captured: Calls, make_headers: Callable[[bytes], dict[str, str]]
) -> None:
    body = event_body("evt_bad")
    response = post("payments", body, make_headers(body))
    assert_error(response, 400, "WEBHOOK_SIGNATURE_INVALID")
    assert not WebhookEvent.objects.exists()
    assert not AuditEvent.objects.filter(target_type="webhook_event").exists()
    assert not captured.by_event


def test_webhook_receive_unknown_provider_is_404_not_found(post: Post, captured: Calls) -> None:
    body = event_body("evt_x")
    response = post("paypal", body, signed_headers(body))
    assert_error(response, 404, "NOT_FOUND")
    assert not WebhookEvent.objects.exists()


def test_webhook_receive_body_just_over_256_kib_is_413(post: Post, captured: Calls) -> None:
    body = event_body("evt_big", extra={"pad": "x" * LIMIT})
    assert LIMIT < len(body) < LIMIT + 1024
    response = post("payments", body, signed_headers(body))
    body_json = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert str(LIMIT) in body_json["message"]
    assert not WebhookEvent.objects.exists()


def test_webhook_receive_body_at_the_limit_is_accepted(post: Post, captured: Calls) -> None:
    base = event_body("evt_edge", extra={"pad": ""})
    body = event_body("evt_edge", extra={"pad": "x" * (LIMIT - len(base))})
    assert len(body) == LIMIT
    assert post("payments", body, signed_headers(body)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"id": "evt_1", "type": ', None),  # malformed
        (b"[1, 2]", "body"),
        (b'{"type": "payment.captured"}', "id"),
        (b'{"id": "evt_1"}', "type"),
        (b'{"id": 7, "type": "payment.captured"}', "id"),
        (b'{"id": "evt 1", "type": "payment.captured"}', "id"),
        (b'{"id": "evt_1", "type": "x\\u0000"}', "type"),
        (b'{"id": "evt_1", "type": "a", "x": NaN}', None),
        (b"\xff\xfe", None),
    ],
)
def test_webhook_receive_invalid_body_is_400_validation_error(
    post: Post, captured: Calls, body: bytes, field: str | None
) -> None:
    response = post("payments", body, signed_headers(body))
    error = assert_error(response, 400, "VALIDATION_ERROR")
    if field is not None:
        assert field in error.get("details", {})
    assert not WebhookEvent.objects.exists()


def test_webhook_receive_accepts_stripe_signed_events_on_payments(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_stripe")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    # Our own signature helper and Stripe's verifier agree on the construction.
    assert stripe.Webhook.construct_event(body.decode(), sign(body, secret=SECRET), SECRET)
    response = post("payments", body, {"HTTP_STRIPE_SIGNATURE": header})
    assert response.json() == {"received": True, "duplicate": False}
    assert captured.by_event == {"evt_stripe": 1}


def test_webhook_receive_stripe_header_is_not_accepted_on_courier(post: Post) -> None:
    body = event_body("evt_c", "delivered")
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), COURIER_SECRET)
    assert_error(
        post("courier", body, {"HTTP_STRIPE_SIGNATURE": header}), 400, "WEBHOOK_SIGNATURE_INVALID"
    )


def test_webhook_receive_rotation_the_old_secret_still_verifies(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_old")
    response = post("payments", body, signed_headers(body, secret=OLD_SECRET))
    assert response.status_code == 200
    assert captured.by_event == {"evt_old": 1}


def test_webhook_receive_no_secret_configured_refuses_everything(
    post: Post, webhook_settings: Any
) -> None:
    webhook_settings.WEBHOOK_SECRETS = {}
    body = event_body("evt_nosecret")
    assert_error(post("payments", body, signed_headers(body)), 400, "WEBHOOK_SIGNATURE_INVALID")


def test_webhook_receive_unknown_type_is_stored_acknowledged_and_not_dispatched(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_new_kind", "customer.updated")
    response = post("payments", body, signed_headers(body))
    assert response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.IGNORED
    assert not captured.by_event


def test_webhook_receive_same_event_id_on_two_providers_is_two_events(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_shared", "delivered")
    assert post("payments", body, signed_headers(body)).status_code == 200
    courier = post("courier", body, signed_headers(body, secret=COURIER_SECRET))
    assert courier.json() == {"received": True, "duplicate": False}
    assert WebhookEvent.objects.count() == 2


def test_webhook_receive_stores_the_payload_redacted_but_keeps_what_handlers_need(
    post: Post, captured: Calls
) -> None:
    body = event_body(
        "evt_pii",
        extra={
            "billing_details": {"email": "ana@example.com", "phone": "+54 11 5555 1234"},
            "receipt_email": "ana@example.com",
            "client_secret": "pi_secret_abc",
        },
    )
    assert post("payments", body, signed_headers(body)).status_code == 200
    stored = json.dumps(WebhookEvent.objects.get().payload)
    assert "ana@example.com" not in stored and "5555 1234" not in stored
    assert "pi_secret_abc" not in stored
    obj = WebhookEvent.objects.get().payload["data"]["object"]
    assert (obj["id"], obj["amount"], obj["currency"]) == ("ch_evt_pii", 1500, "ars")
    assert obj["metadata"]["order_id"] == "42"


def test_webhook_receive_needs_no_credentials_and_ignores_bad_ones(
    post: Post, captured: Calls
) -> None:
    body = event_body("evt_auth")
    headers = {**signed_headers(body), "HTTP_AUTHORIZATION": "Bearer not-a-token"}
    assert post("payments", body, headers).status_code == 200


def test_webhook_receive_metrics_and_logs_carry_no_secret(
    post: Post, captured: Calls, json_logs: JsonLogs
) -> None:
    body = event_body("evt_m")
    post("payments", body, signed_headers(body))
    post("payments", body, signed_headers(body))
    post("payments", body, signed_headers(body, secret="wrong"))
    post("nope", body, signed_headers(body))
    post("payments", b"{", signed_headers(b"{"))
    outcomes = [
        (line["provider"], line["outcome"])
        for line in json_logs.events(webhook_services.METRIC_INTEGRATION_WEBHOOK)
    ]
    assert outcomes == [
        ("payments", "accepted"),
        ("payments", "duplicate"),
        ("payments", "signature_invalid"),
        ("unknown", "unknown_provider"),
        ("payments", "invalid"),
    ]
    assert SECRET not in json_logs.text and "v1=" not in json_logs.text
    assert "metadata" not in json_logs.text  # no body in the logs


# --- through the ASGI application: the body-limit middleware refuses before reading -------

MIB = 1024 * 1024
CHUNK = 64 * KIB


class Upload:
    """A streamed body that records how much of it the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.total:
            size = min(CHUNK, self.total - sent)
            self.pulled += size
            sent += size
            yield b" " * size


def asgi_client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_webhook_several_megabytes_declared_are_refused_unread(
    json_logs: JsonLogs,
) -> None:
    upload = Upload(8 * MIB)
    async with asgi_client() as http:
        response = await http.post(
            URL.format("payments"),
            content=upload,
            headers={"Content-Type": "application/json", "Content-Length": str(8 * MIB)},
        )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert f"{LIMIT} bytes" in response.json()["message"]
    assert upload.pulled == 0
    outcomes = [
        (line["provider"], line["outcome"])
        for line in json_logs.events(webhook_services.METRIC_INTEGRATION_WEBHOOK)
    ]
    assert outcomes == [("payments", "too_large")]


async def test_webhook_several_megabytes_chunked_are_cut_at_the_limit() -> None:
    upload = Upload(8 * MIB)
    async with asgi_client() as http:
        response = await http.post(
            URL.format("courier"), content=upload, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert upload.pulled <= LIMIT + CHUNK


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 100):
        yield body[start : start + 100]


@pytest.mark.django_db(transaction=True)
async def test_webhook_accepted_through_the_asgi_app_with_and_without_content_length(
    captured: Calls,
) -> None:
    body = event_body("evt_asgi", extra={"note": "x" * 1000})
    headers = {
        "Content-Type": "application/json",
        "X-Aventide-Signature": sign(body, secret=SECRET),
    }
    async with asgi_client() as http:
        declared = await http.post(URL.format("payments"), content=body, headers=headers)
        chunked = await http.post(URL.format("payments"), content=_chunks(body), headers=headers)
    assert declared.status_code == 200, declared.text[:300]
    assert declared.json() == {"received": True, "duplicate": False}
    assert chunked.status_code == 200, chunked.text[:300]
    assert chunked.json() == {"received": True, "duplicate": True}
    assert captured.by_event == {"evt_asgi": 1}
