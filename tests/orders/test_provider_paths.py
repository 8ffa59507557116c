"""The order's money and delivery paths through the integrations hub (issue 10, item 7):
pay -> payments job -> ``payment.captured`` webhook -> paid + ledger capture; dispatch ->
courier job -> ``delivered`` / ``attempt_failed``; cancel of a paid order -> refund job with
the ledger's key -> ``refund.succeeded`` evidence; the recipient's invitation.

Jobs run eagerly after commit (the embedded mode's path); the sandbox providers' signed
webhooks are collected and posted to the real endpoint by the test, in the order it chooses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from audit.models import Event as AuditEvent
from aventide.ledger.models import Transaction
from aventide.orders import services
from aventide.orders.models import DeliveryAttempt, Order, OrderStatus, PaymentStatus
from integrations import breaker
from integrations.models import Job, JobStatus, WebhookEvent
from integrations.providers import registry, sandbox
from integrations.providers.base import Call, Outcome
from integrations.providers.sandbox import LEDGER
from integrations.signing import sign
from tests.accounts.factories import login_headers, principal
from tests.orders.conftest import OrderWorld

pytestmark = pytest.mark.django_db

SECRETS = {"payments": ["whsec-orders-pay"], "courier": ["whsec-orders-courier"]}


class Mailbox:
    """An email/SMS provider that records what it was asked to send (one effect per key)."""

    name = "mailbox"
    kind = "email"

    def __init__(self) -> None:
        self.sent: dict[str, dict[str, Any]] = {}

    def execute(self, call: Call) -> Outcome:
        self.sent.setdefault(call.idempotency_key, dict(call.payload))
        return Outcome(provider_reference=f"msg-{len(self.sent)}")


class Hub:
    def __init__(self, capture: Any, client: Client) -> None:
        self.capture = capture
        self.client = client
        self.webhooks: list[tuple[str, bytes, dict[str, str]]] = []
        self.mailbox = Mailbox()

    def run(self, fn: Callable[[], Any]) -> Any:
        """``fn`` then every after-commit effect (outbox jobs run eagerly, like make run)."""
        with self.capture(execute=True):
            return fn()

    def take(self, event_type: str) -> tuple[str, bytes, dict[str, str]]:
        for index, (_provider, body, _headers) in enumerate(self.webhooks):
            if json.loads(body)["type"] == event_type:
                return self.webhooks.pop(index)
        raise AssertionError(f"no {event_type} webhook among {len(self.webhooks)}")

    def post(self, webhook: tuple[str, bytes, dict[str, str]]) -> dict[str, Any]:
        provider, body, headers = webhook
        extra: dict[str, Any] = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
        }
        response = self.run(
            lambda: self.client.post(
                f"/api/integrations/webhooks/{provider}",
                data=body,
                content_type="application/json",
                **extra,
            )
        )
        assert response.status_code == 200, response.content
        return dict(response.json())

    def deliver(self, event_type: str) -> dict[str, Any]:
        return self.post(self.take(event_type))


@pytest.fixture
def hub(settings: Any, django_capture_on_commit_callbacks: Any) -> Iterator[Hub]:
    LEDGER.reset()
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_SECRETS = dict(SECRETS)
    settings.INTEGRATIONS_SANDBOX = {
        "latency_ms": 0,
        "failure_mode": "none",
        "webhooks": True,
        "webhook_delay_ms": 0,
        "per_kind": {},
    }
    settings.INTEGRATIONS_RETRY_POLICY = {"default": {"base": 0.0, "cap": 0.0, "max_attempts": 2}}
    breaker.use_storage(breaker.MemoryStorage())
    h = Hub(django_capture_on_commit_callbacks, Client())
    try:
        with (
            sandbox.use_deliver(lambda p, b, hd: h.webhooks.append((p, b, hd))),
            registry.override("email", h.mailbox),
            registry.override("sms", h.mailbox),
        ):
            yield h
    finally:
        breaker.use_storage(None)
        LEDGER.reset()


@pytest.fixture
def world(countries: list[str]) -> OrderWorld:
    return OrderWorld("AR")


def _pay(hub: Hub, world: OrderWorld, order: Order) -> Order:
    return hub.run(lambda: services.order_pay(actor=principal(world.buyer), order_id=order.pk))


def _paid(hub: Hub, world: OrderWorld) -> Order:
    order = world.new_order()
    _pay(hub, world, order)
    hub.deliver("payment.captured")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    return order


# --- pay --------------------------------------------------------------------------------------


def test_pay_then_the_captured_webhook_marks_the_order_paid_and_captures_into_escrow(
    hub: Hub, world: OrderWorld
) -> None:
    order = world.new_order()
    response = hub.run(
        lambda: hub.client.post(
            f"/api/orders/{order.pk}/pay",
            **_auth(world.buyer),
        )
    )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending_payment"
    assert body["payment"] == {"status": "processing"}
    assert "pay" not in body["allowedActions"]

    job = Job.objects.get(idempotency_key=f"order:{order.pk}:payment:1")
    assert (job.kind, job.operation, job.status) == ("payments", "payment.create", "succeeded")
    assert LEDGER.effect_count(job.idempotency_key, "payments") == 1
    assert not Transaction.objects.filter(idempotency_key=f"order:{order.pk}:capture").exists()

    hub.deliver("payment.captured")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.payment_status == PaymentStatus.CAPTURED
    assert order.payment_reference == LEDGER.reference(job.idempotency_key, "payments")
    capture = Transaction.objects.get(idempotency_key=f"order:{order.pk}:capture")
    assert capture.entries.filter(amount_minor=order.amount_minor).exists()
    actions = set(
        AuditEvent.objects.filter(target_id=str(order.pk)).values_list("action", flat=True)
    )
    assert {"order.payment_requested", "order.paid"} <= actions


def test_paying_again_while_a_payment_is_in_flight_charges_nothing_more(
    hub: Hub, world: OrderWorld, settings: Any
) -> None:
    settings.INTEGRATIONS_SANDBOX = {**settings.INTEGRATIONS_SANDBOX, "webhooks": False}
    order = world.new_order()
    _pay(hub, world, order)
    again = _pay(hub, world, order)
    assert again.payment_attempts == 1
    assert Job.objects.filter(kind="payments").count() == 1


def test_a_declined_payment_tells_the_buyer_why_and_the_buyer_can_pay_again(
    hub: Hub, world: OrderWorld, settings: Any
) -> None:
    settings.INTEGRATIONS_SANDBOX = {
        **settings.INTEGRATIONS_SANDBOX,
        "per_kind": {"payments": {"failure_mode": "4xx"}},
    }
    order = world.new_order()
    _pay(hub, world, order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert (order.payment_status, order.payment_failure_code) == ("failed", "PAYMENT_DECLINED")
    assert Job.objects.get(idempotency_key=f"order:{order.pk}:payment:1").status == "dead"

    buyer_view = _get(hub, order, world.buyer)
    assert buyer_view["payment"]["failureCode"] == "PAYMENT_DECLINED"
    assert "declined" in buyer_view["payment"]["failureMessage"]
    assert buyer_view["allowedActions"][0] == "pay"
    assert _get(hub, order, world.seller)["payment"] == {"status": "failed"}

    settings.INTEGRATIONS_SANDBOX = {**settings.INTEGRATIONS_SANDBOX, "per_kind": {}}
    _pay(hub, world, order)
    hub.deliver("payment.captured")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.payment_attempts == 2
    assert order.payment_failure_code == ""


def test_an_unreachable_provider_after_every_retry_is_a_failure_the_buyer_can_retry(
    hub: Hub, world: OrderWorld, settings: Any
) -> None:
    settings.INTEGRATIONS_SANDBOX = {
        **settings.INTEGRATIONS_SANDBOX,
        "per_kind": {"payments": {"failure_mode": "5xx"}},
    }
    order = world.new_order()
    _pay(hub, world, order)
    job = Job.objects.get(idempotency_key=f"order:{order.pk}:payment:1")
    while job.status != JobStatus.DEAD:  # the retries the beat would hand over
        Job.objects.filter(pk=job.pk).update(next_attempt_at=job.created_at)
        hub.run(lambda: _run(job.pk))
        job.refresh_from_db()
    order.refresh_from_db()
    assert (order.payment_status, order.payment_failure_code) == (
        "failed",
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )


def test_pay_is_the_buyers_alone_and_only_while_awaiting_payment(
    hub: Hub, world: OrderWorld
) -> None:
    order = world.new_order()
    as_seller = hub.client.post(f"/api/orders/{order.pk}/pay", **_auth(world.seller))
    assert (as_seller.status_code, as_seller.json()["code"]) == (403, "ORDER_ACTION_FORBIDDEN")
    stranger = world.staff["L1"]  # staff in scope may look, not pay
    assert hub.client.post(f"/api/orders/{order.pk}/pay", **_auth(stranger)).status_code == 403
    paid = _paid(hub, world)
    again = hub.client.post(f"/api/orders/{paid.pk}/pay", **_auth(world.buyer))
    assert (again.status_code, again.json()["code"]) == (409, "INVALID_TRANSITION")


def test_a_capture_with_another_amount_does_not_mark_the_order_paid(
    hub: Hub, world: OrderWorld
) -> None:
    order = world.new_order()
    body = json.dumps(
        {
            "id": "evt_wrong_amount",
            "type": "payment.captured",
            "created": 1_764_700_000,
            "data": {
                "object": {
                    "id": "pi_wrong",
                    "amount": order.amount_minor - 1,
                    "currency": order.currency.lower(),
                    "metadata": {"order_id": str(order.pk)},
                }
            },
        }
    ).encode()
    hub.post(
        ("payments", body, {"X-Aventide-Signature": sign(body, secret=SECRETS["payments"][0])})
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    event = WebhookEvent.objects.get(event_id="evt_wrong_amount")
    assert event.status == WebhookEvent.Status.FAILED
    assert "PaymentEventUnmatched" in event.last_error or "amount" in event.last_error
    assert not Transaction.objects.filter(idempotency_key=f"order:{order.pk}:capture").exists()


def test_a_capture_for_an_order_cancelled_meanwhile_goes_back_to_the_card(
    hub: Hub, world: OrderWorld
) -> None:
    order = world.new_order()
    _pay(hub, world, order)
    hub.run(lambda: services.order_cancel(actor=principal(world.buyer), order_id=order.pk))
    hub.deliver("payment.captured")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    payment = LEDGER.reference(f"order:{order.pk}:payment:1", "payments")
    back = Job.objects.get(idempotency_key=f"order:{order.pk}:capture-return:{payment}")
    assert (back.operation, back.status) == ("refund.create", "succeeded")
    assert not Transaction.objects.filter(idempotency_key=f"order:{order.pk}:capture").exists()
    hub.deliver("refund.succeeded")
    order.refresh_from_db()
    assert order.refund_reference


# --- refunds ----------------------------------------------------------------------------------


def test_cancelling_a_paid_order_refunds_the_card_with_the_ledger_key_and_records_evidence(
    hub: Hub, world: OrderWorld
) -> None:
    order = _paid(hub, world)
    hub.run(lambda: services.order_cancel(actor=principal(world.buyer), order_id=order.pk))
    key = f"order:{order.pk}:cancel-refund"
    assert Transaction.objects.filter(idempotency_key=key).exists()
    job = Job.objects.get(idempotency_key=key)
    assert (job.kind, job.operation, job.status) == ("payments", "refund.create", "succeeded")
    assert LEDGER.effect_count(key, "payments") == 1
    hub.deliver("refund.succeeded")
    order.refresh_from_db()
    assert order.refund_reference == LEDGER.reference(key, "payments")
    evidence = AuditEvent.objects.get(action="order.refund_confirmed", target_id=str(order.pk))
    assert evidence.data["amountMinor"] == order.amount_minor
    assert evidence.data["paymentReference"] == order.payment_reference


def test_a_refund_event_before_its_capture_waits_and_then_applies(
    hub: Hub, world: OrderWorld
) -> None:
    order = world.new_order()
    _pay(hub, world, order)
    captured = hub.take("payment.captured")
    payment = LEDGER.reference(f"order:{order.pk}:payment:1", "payments")
    refund = sandbox.stripe_event(
        "refund.succeeded",
        "early-refund",
        {
            "id": "re_early",
            "amount": order.amount_minor,
            "currency": order.currency.lower(),
            "payment_intent": payment,
            "metadata": {"order_id": str(order.pk)},
        },
    )
    body = json.dumps(refund).encode()
    hub.post(
        ("payments", body, {"X-Aventide-Signature": sign(body, secret=SECRETS["payments"][0])})
    )
    event = WebhookEvent.objects.get(event_id=refund["id"])
    assert event.status == WebhookEvent.Status.RECEIVED  # waiting, not failed
    hub.post(captured)
    job = Job.objects.get(idempotency_key=f"webhook-event:{event.pk}")
    Job.objects.filter(pk=job.pk).update(next_attempt_at=job.created_at)
    hub.run(lambda: _run(job.pk))
    event.refresh_from_db()
    order.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert (order.status, order.refund_reference) == (OrderStatus.PAID, "re_early")


# --- delivery ---------------------------------------------------------------------------------


def test_dispatch_books_the_courier_and_its_delivered_webhook_delivers_the_order(
    hub: Hub, world: OrderWorld
) -> None:
    order = _paid(hub, world)
    world.accept(order)
    hub.run(lambda: services.order_dispatch(actor=principal(world.seller), order_id=order.pk))
    job = Job.objects.get(idempotency_key=f"order:{order.pk}:shipment")
    assert (job.kind, job.status) == ("courier", "succeeded")
    order.refresh_from_db()
    assert order.shipment_reference == job.provider_reference
    hub.deliver("delivered")
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED and order.delivered_at is not None
    delivered = AuditEvent.objects.get(action="order.delivered", target_id=str(order.pk))
    assert (delivered.actor_type, delivered.actor_level) == ("system", "L0")


def test_a_failed_delivery_attempt_is_recorded_once_and_tells_the_fulfilment_hooks(
    hub: Hub, world: OrderWorld, settings: Any
) -> None:
    settings.INTEGRATIONS_SANDBOX = {
        **settings.INTEGRATIONS_SANDBOX,
        "courier_outcome": "attempt_failed",
    }
    heard: list[tuple[int, str]] = []
    services.register_fulfilment_hook(
        lambda order, attempt: heard.append((order.pk, attempt.reason))
    )
    order = _paid(hub, world)
    world.accept(order)
    hub.run(lambda: services.order_dispatch(actor=principal(world.seller), order_id=order.pk))
    webhook = hub.take("attempt_failed")
    hub.post(webhook)
    hub.post(webhook)  # the courier retries the delivery of its event
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_TRANSIT
    attempts = DeliveryAttempt.objects.filter(order=order)
    assert [(a.reason, a.shipment_reference) for a in attempts] == [
        ("recipient_absent", order.shipment_reference)
    ]
    assert (order.pk, "recipient_absent") in heard


# --- the recipient's invitation -----------------------------------------------------------------


def test_the_invitation_brings_a_link_that_authenticates_as_the_recipient(
    hub: Hub, world: OrderWorld
) -> None:
    created = hub.run(
        lambda: services.order_create(
            actor=principal(world.buyer),
            listing_id=world.listing.pk,
            recipient_name="Ana",
            recipient_email="ana.recipient@example.com",
        )
    )
    order = created.order
    key = f"order:{order.pk}:invitation:{order.recipient_anon_id}"
    message = hub.mailbox.sent[key]
    assert message["to"] == "ana.recipient@example.com"
    assert message["subject"] == "Tienes un regalo en camino"  # AR: Spanish
    match = re.search(r"/gift/([0-9a-f-]{36})#sig=([A-Za-z0-9_\-]+)", message["body"])
    assert match is not None, message["body"]
    anon_id, signature = match.groups()
    response = hub.client.get(
        f"/api/orders/{order.pk}",
        HTTP_X_ANONYMOUS_ID=anon_id,
        HTTP_X_ANONYMOUS_SIGNATURE=signature,
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "recipient"
    # neither the signature nor the address rests in the outbox row or the audit trail
    job = Job.objects.get(idempotency_key=key)
    stored = json.dumps(job.payload) + json.dumps(
        list(AuditEvent.objects.values_list("data", flat=True)), default=str
    )
    assert signature not in stored
    assert "ana.recipient@example.com" not in json.dumps(job.payload)


def test_without_an_email_the_invitation_goes_by_sms_to_the_national_number_in_e164(
    hub: Hub, world: OrderWorld
) -> None:
    created = hub.run(
        lambda: services.order_create(
            actor=principal(world.buyer),
            listing_id=world.listing.pk,
            recipient_name="Ana",
            recipient_phone="011 15-2345-6789",  # Buenos Aires mobile, national format
        )
    )
    order = created.order
    assert order.recipient_phone == "+5491123456789"
    sms = hub.mailbox.sent[f"order:{order.pk}:invitation:{order.recipient_anon_id}"]
    assert sms["to"] == "+5491123456789"
    assert f"/gift/{order.recipient_anon_id}#sig=" in sms["body"]


def test_an_invalid_phone_is_a_validation_error_on_the_field(hub: Hub, world: OrderWorld) -> None:
    response = hub.client.post(
        "/api/orders",
        data={"listingId": world.listing.pk, "recipient": {"name": "Ana", "phone": "12"}},
        content_type="application/json",
        **_auth(world.buyer),
    )
    assert (response.status_code, response.json()["code"]) == (400, "VALIDATION_ERROR")
    assert not Order.objects.exists()


def test_a_reissued_link_sends_a_new_invitation_and_the_stale_one_is_not_sent(
    hub: Hub, world: OrderWorld, settings: Any
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    created = services.order_create(  # its after-commit effects never run: the job waits
        actor=principal(world.buyer),
        listing_id=world.listing.pk,
        recipient_name="Ana",
        recipient_email="ana.recipient@example.com",
    )
    order = created.order
    first = Job.objects.get(
        idempotency_key=f"order:{order.pk}:invitation:{order.recipient_anon_id}"
    )
    hub.run(
        lambda: services.order_recipient_link_reissue(
            actor=principal(world.staff["L2"]), order_id=order.pk, reason="lost"
        )
    )
    order.refresh_from_db()
    fresh = f"order:{order.pk}:invitation:{order.recipient_anon_id}"
    assert f"/gift/{order.recipient_anon_id}#sig=" in hub.mailbox.sent[fresh]["body"]
    hub.run(lambda: _run(first.pk))
    first.refresh_from_db()
    assert (first.status, first.last_error_code) == ("dead", "INVITATION_STALE")
    assert first.idempotency_key not in hub.mailbox.sent


# --- helpers ----------------------------------------------------------------------------------


def _run(job_id: int) -> None:
    from integrations import services as outbox

    outbox.job_run(job_id=job_id)


def _auth(user: Any) -> dict[str, Any]:
    return dict(login_headers(user))


def _get(hub: Hub, order: Order, user: Any) -> dict[str, Any]:
    response = hub.client.get(f"/api/orders/{order.pk}", **_auth(user))
    assert response.status_code == 200, response.content
    return dict(response.json())
