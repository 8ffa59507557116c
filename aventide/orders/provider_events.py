"""What orders does with the integrations hub's confirmations (registered at
``OrdersConfig.ready()``; docs/operations/integrations.md "The order's paths").

Webhook handlers (run by the outbox's ``inbound`` jobs as the system, inside the event's
use-case frame: the services below join its transaction). Each is idempotent and
order-tolerant:

- ``payments`` / ``payment.captured`` -> `order_payment_captured` (paid + ledger capture; a
  capture the order cannot keep goes back to the card);
- ``payments`` / ``refund.succeeded`` -> `order_refund_confirmed` (evidence); a refund that
  arrives before the capture it refunds waits (``RetryLater``);
- ``courier`` / ``delivered`` -> `order_courier_delivered`; before the order is in transit
  it waits (``RetryLater``);
- ``courier`` / ``attempt_failed`` -> `order_delivery_attempt_failed`.

Job result listeners: a payment job that dies marks the payment failed for the buyer
(`order_payment_failed`); a booked shipment keeps its reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aventide.core.principal import SYSTEM
from aventide.orders import services
from aventide.orders.errors import InvalidTransition, PaymentEventUnmatched
from integrations import selectors as integrations_selectors
from integrations.contracts import (
    InboundEvent,
    JobOutcome,
    RetryLater,
    register_handler,
    register_result_listener,
)

PAYMENTS = "payments"
COURIER = "courier"


def _object(event: InboundEvent) -> Mapping[str, Any]:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise PaymentEventUnmatched("the event has no data.object")
    return obj


def _order_id(obj: Mapping[str, Any]) -> int:
    metadata = obj.get("metadata")
    raw = metadata.get("order_id") if isinstance(metadata, Mapping) else None
    try:
        order_id = int(str(raw))
    except (TypeError, ValueError):
        raise PaymentEventUnmatched("the event names no order (metadata.order_id)") from None
    if order_id <= 0:
        raise PaymentEventUnmatched("the event names no order (metadata.order_id)")
    return order_id


def _amount(obj: Mapping[str, Any]) -> tuple[int, str]:
    amount, currency = obj.get("amount"), obj.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or not isinstance(currency, str):
        raise PaymentEventUnmatched("the event has no amount or currency")
    return amount, currency.upper()


def on_payment_captured(event: InboundEvent) -> None:
    obj = _object(event)
    amount, currency = _amount(obj)
    services.order_payment_captured(
        actor=SYSTEM,
        order_id=_order_id(obj),
        payment_reference=str(obj.get("id") or ""),
        amount_minor=amount,
        currency=currency,
    )


def on_refund_succeeded(event: InboundEvent) -> None:
    obj = _object(event)
    order_id = _order_id(obj)
    amount, currency = _amount(obj)
    payment = str(obj.get("payment_intent") or obj.get("charge") or "")
    known = services.order_knows_payment(order_id=order_id, payment_reference=payment)
    if known is None:
        raise PaymentEventUnmatched(f"no order {order_id} for this refund")
    if not known and _returned_capture(order_id, payment) is False:
        raise RetryLater("the refunded payment is not recorded on the order yet")
    services.order_refund_confirmed(
        actor=SYSTEM,
        order_id=order_id,
        refund_reference=str(obj.get("id") or ""),
        payment_reference=payment,
        amount_minor=amount,
        currency=currency,
    )


def _returned_capture(order_id: int, payment_reference: str) -> bool:
    """A refund of a capture the order did not keep (cancelled meanwhile, a second capture)
    refers to a payment that is not the order's: it was sent back by us, so it is known."""
    key = f"order:{order_id}:capture-return:{payment_reference}"
    return integrations_selectors.job_exists(idempotency_key=key)


def on_courier_delivered(event: InboundEvent) -> None:
    obj = _object(event)
    try:
        services.order_courier_delivered(
            actor=SYSTEM, order_id=_order_id(obj), shipment_reference=str(obj.get("id") or "")
        )
    except InvalidTransition as exc:
        if (exc.details or {}).get("currentState") in ("paid", "accepted"):
            raise RetryLater("the order is not in transit yet") from None
        raise


def on_courier_attempt_failed(event: InboundEvent) -> None:
    obj = _object(event)
    occurred = event.signed_at or event.received_at
    created = event.payload.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and created > 0:
        occurred = datetime.fromtimestamp(created, tz=UTC)
    services.order_delivery_attempt_failed(
        actor=SYSTEM,
        order_id=_order_id(obj),
        provider_event_id=event.event_id,
        shipment_reference=str(obj.get("id") or ""),
        reason=str(obj.get("reason") or ""),
        occurred_at=occurred,
    )


def on_payment_job_ended(outcome: JobOutcome) -> None:
    if outcome.status != "dead":
        return  # success is confirmed by the payment.captured webhook
    order_id = _payload_order_id(outcome.payload)
    if order_id is not None:
        services.order_payment_failed(
            actor=SYSTEM,
            order_id=order_id,
            idempotency_key=outcome.idempotency_key,
            permanent=outcome.permanent,
        )


def on_shipment_job_ended(outcome: JobOutcome) -> None:
    order_id = _payload_order_id(outcome.payload)
    if outcome.status == "succeeded" and order_id is not None and outcome.provider_reference:
        services.order_shipment_booked(
            actor=SYSTEM, order_id=order_id, shipment_reference=outcome.provider_reference
        )


def _payload_order_id(payload: Mapping[str, Any]) -> int | None:
    try:
        return int(str(payload.get("order_id")))
    except (TypeError, ValueError):
        return None


def register() -> None:
    register_handler(PAYMENTS, "payment.captured", on_payment_captured)
    register_handler(PAYMENTS, "refund.succeeded", on_refund_succeeded)
    register_handler(COURIER, "delivered", on_courier_delivered)
    register_handler(COURIER, "attempt_failed", on_courier_attempt_failed)
    register_result_listener(PAYMENTS, "payment.create", on_payment_job_ended)
    register_result_listener(COURIER, "shipment.create", on_shipment_job_ended)
