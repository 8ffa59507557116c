"""Typed interfaces per provider kind, and ``KindAdapter``: ``execute(call)`` -> typed method.

The worker only knows ``base.Adapter.execute(call)``. Adapters written against a kind subclass
``KindAdapter`` and implement that kind's protocol (``PaymentsProvider``, ``EmailProvider``,
...); ``execute`` looks the operation up in ``OPERATIONS``, parses the payload into the
operation's frozen request dataclass and calls the method with the request and a
``CallContext`` (idempotency key, country, timeout, attempt). An operation this adapter's kind
does not offer (or does not implement) is refused with ``PermanentProviderError`` code
``UNKNOWN_OPERATION``; a payload missing a key or with a wrong type with ``INVALID_PAYLOAD``
(the detail names the key, never the value).

Operation names and payload keys are documented in docs/operations/integrations.md
("Providers").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from integrations.providers.base import Call, Kind, Outcome, PermanentProviderError

# --- payload parsing --------------------------------------------------------------------------


def _invalid(key: str, why: str) -> PermanentProviderError:
    return PermanentProviderError(f"payload key {key!r} {why}", code="INVALID_PAYLOAD")


def _str(payload: Mapping[str, Any], key: str, *, required: bool = True, default: str = "") -> str:
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise _invalid(key, "is required")
        return default
    if not isinstance(value, str):
        raise _invalid(key, "must be a string")
    return value


def _int(payload: Mapping[str, Any], key: str, *, minimum: int = 0) -> int:
    value = payload.get(key)
    if value is None:
        raise _invalid(key, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(key, "must be an integer")
    if value < minimum:
        raise _invalid(key, f"must be >= {minimum}")
    return int(value)


def _currency(payload: Mapping[str, Any]) -> str:
    value = _str(payload, "currency")
    if len(value) != 3 or not value.isalpha():
        raise _invalid("currency", "must be an ISO 4217 code")
    return value.upper()


def _id(payload: Mapping[str, Any], key: str) -> str:
    """An id that may arrive as an int or a string (order ids)."""
    value = payload.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _str(payload, key)


def _str_map(payload: Mapping[str, Any], key: str) -> dict[str, str]:
    value = payload.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int) for k, v in value.items()
    ):
        raise _invalid(key, "must be an object of strings")
    return {k: str(v) for k, v in value.items()}


# --- the call context -----------------------------------------------------------------------


@dataclass(frozen=True)
class CallContext:
    """What every typed method gets besides its request."""

    idempotency_key: str
    country_code: str
    timeout_seconds: float
    attempt: int = 1
    operation: str = ""

    @classmethod
    def of(cls, call: Call) -> CallContext:
        return cls(
            idempotency_key=call.idempotency_key,
            country_code=call.country_code.upper(),
            timeout_seconds=call.timeout_seconds,
            attempt=call.attempt,
            operation=call.operation,
        )


# --- requests and results ----------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    amount_minor: int
    currency: str
    order_id: str
    payment_method: str = ""
    description: str = ""

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> PaymentRequest:
        return cls(
            amount_minor=_int(p, "amount_minor", minimum=1),
            currency=_currency(p),
            order_id=_id(p, "order_id"),
            payment_method=_str(p, "payment_method", required=False),
            description=_str(p, "description", required=False),
        )


@dataclass(frozen=True)
class RefundRequest:
    payment_reference: str
    amount_minor: int
    currency: str
    order_id: str
    reason: str = ""

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> RefundRequest:
        return cls(
            payment_reference=_str(p, "payment_reference"),
            amount_minor=_int(p, "amount_minor", minimum=1),
            currency=_currency(p),
            order_id=_id(p, "order_id"),
            reason=_str(p, "reason", required=False),
        )


@dataclass(frozen=True)
class PaymentResult:
    """A payment or a refund as the provider holds it."""

    provider_reference: str
    status: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class EmailRequest:
    to: str
    subject: str
    body: str
    html_body: str = ""

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> EmailRequest:
        return cls(
            to=_str(p, "to"),
            subject=_str(p, "subject"),
            body=_str(p, "body"),
            html_body=_str(p, "html_body", required=False),
        )


@dataclass(frozen=True)
class SmsRequest:
    to: str
    body: str

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> SmsRequest:
        return cls(to=_str(p, "to"), body=_str(p, "body"))


PUSH_URGENCIES = ("very-low", "low", "normal", "high")


@dataclass(frozen=True)
class PushRequest:
    """A Web Push message (RFC 8030): ``keys`` are the subscription's ``p256dh``/``auth``,
    ``ttl`` the seconds the push service may keep it for an offline device, ``topic`` lets a
    newer message replace a pending one with the same topic, ``urgency`` one of
    ``PUSH_URGENCIES``."""

    endpoint: str
    title: str
    body: str
    keys: Mapping[str, str] = field(default_factory=dict)
    data: Mapping[str, str] = field(default_factory=dict)
    ttl: int = 0
    topic: str = ""
    urgency: str = "normal"

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> PushRequest:
        urgency = _str(p, "urgency", required=False, default="normal")
        if urgency not in PUSH_URGENCIES:
            raise _invalid("urgency", "must be very-low, low, normal or high")
        return cls(
            endpoint=_str(p, "endpoint"),
            title=_str(p, "title"),
            body=_str(p, "body", required=False),
            keys=_str_map(p, "keys"),
            data=_str_map(p, "data"),
            ttl=_int(p, "ttl") if "ttl" in p else 0,
            topic=_str(p, "topic", required=False),
            urgency=urgency,
        )


@dataclass(frozen=True)
class MessageResult:
    """An email, SMS or push accepted by the provider."""

    provider_reference: str
    status: str = "accepted"


@dataclass(frozen=True)
class ShipmentRequest:
    order_id: str
    pickup_address: str
    delivery_address: str
    recipient_name: str = ""
    parcel_weight_grams: int = 0

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> ShipmentRequest:
        return cls(
            order_id=_id(p, "order_id"),
            # optional: couriers keep the merchant's pickup point on the account, and an
            # address the client never gave is the courier's to ask the recipient for
            pickup_address=_str(p, "pickup_address", required=False),
            delivery_address=_str(p, "delivery_address", required=False),
            recipient_name=_str(p, "recipient_name", required=False),
            parcel_weight_grams=_int(p, "parcel_weight_grams") if "parcel_weight_grams" in p else 0,
        )


@dataclass(frozen=True)
class ShipmentResult:
    provider_reference: str
    tracking_code: str
    status: str = "created"


@dataclass(frozen=True)
class StoragePutRequest:
    name: str
    content: bytes
    content_type: str = "application/octet-stream"

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> StoragePutRequest:
        raw = _str(p, "content_b64", required=False)
        try:
            content = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("content_b64", "must be base64") from None
        return cls(
            name=_str(p, "name"),
            content=content,
            content_type=_str(p, "content_type", required=False, default=cls.content_type),
        )


@dataclass(frozen=True)
class StorageNameRequest:
    """``storage.get`` and ``storage.url``: the object's name."""

    name: str

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> StorageNameRequest:
        return cls(name=_str(p, "name"))


@dataclass(frozen=True)
class StoredObject:
    provider_reference: str  # the stored name
    size: int
    sha256: str
    url: str = ""


@dataclass(frozen=True)
class StorageBlob:
    provider_reference: str
    content: bytes


@dataclass(frozen=True)
class StorageUrl:
    provider_reference: str
    url: str


@dataclass(frozen=True)
class GeocodeRequest:
    address: str
    country_code: str = ""

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> GeocodeRequest:
        return cls(
            address=_str(p, "address"),
            country_code=_str(p, "country_code", required=False).upper(),
        )


@dataclass(frozen=True)
class GeocodeResult:
    provider_reference: str
    latitude: float
    longitude: float
    precision: str = "street"


@dataclass(frozen=True)
class TaxQuoteRequest:
    amount_minor: int
    currency: str
    country_code: str = ""
    category: str = "general"

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> TaxQuoteRequest:
        return cls(
            amount_minor=_int(p, "amount_minor"),
            currency=_currency(p),
            country_code=_str(p, "country_code", required=False).upper(),
            category=_str(p, "category", required=False, default="general"),
        )


@dataclass(frozen=True)
class TaxQuote:
    provider_reference: str
    tax_minor: int
    rate_bps: int
    currency: str


# --- the interfaces per kind ---------------------------------------------------------------------


@runtime_checkable
class PaymentsProvider(Protocol):
    def create_payment(self, request: PaymentRequest, ctx: CallContext) -> PaymentResult: ...

    def refund(self, request: RefundRequest, ctx: CallContext) -> PaymentResult: ...


@runtime_checkable
class EmailProvider(Protocol):
    def send(self, request: EmailRequest, ctx: CallContext) -> MessageResult: ...


@runtime_checkable
class SmsProvider(Protocol):
    def send(self, request: SmsRequest, ctx: CallContext) -> MessageResult: ...


@runtime_checkable
class PushProvider(Protocol):
    def send(self, request: PushRequest, ctx: CallContext) -> MessageResult: ...


@runtime_checkable
class CourierProvider(Protocol):
    def create_shipment(self, request: ShipmentRequest, ctx: CallContext) -> ShipmentResult: ...


@runtime_checkable
class StorageProvider(Protocol):
    def put(self, request: StoragePutRequest, ctx: CallContext) -> StoredObject: ...

    def get(self, request: StorageNameRequest, ctx: CallContext) -> StorageBlob: ...

    def url(self, request: StorageNameRequest, ctx: CallContext) -> StorageUrl: ...


@runtime_checkable
class GeocodingProvider(Protocol):
    def geocode(self, request: GeocodeRequest, ctx: CallContext) -> GeocodeResult: ...


@runtime_checkable
class TaxProvider(Protocol):
    def quote(self, request: TaxQuoteRequest, ctx: CallContext) -> TaxQuote: ...


# --- the operation table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation name: the kind that offers it, the typed method, the payload parser and
    how the method's result becomes the worker's ``Outcome``."""

    name: str
    kind: Kind
    method: str
    parse: Callable[[Mapping[str, Any]], Any]
    payload_keys: tuple[str, ...]


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "payment.create",
            Kind.PAYMENTS,
            "create_payment",
            PaymentRequest.from_payload,
            ("amount_minor", "currency", "order_id", "payment_method?", "description?"),
        ),
        Operation(
            "refund.create",
            Kind.PAYMENTS,
            "refund",
            RefundRequest.from_payload,
            ("payment_reference", "amount_minor", "currency", "order_id", "reason?"),
        ),
        Operation(
            "email.send",
            Kind.EMAIL,
            "send",
            EmailRequest.from_payload,
            ("to", "subject", "body", "html_body?"),
        ),
        Operation("sms.send", Kind.SMS, "send", SmsRequest.from_payload, ("to", "body")),
        Operation(
            "push.send",
            Kind.PUSH,
            "send",
            PushRequest.from_payload,
            ("endpoint", "title", "body?", "keys?", "data?", "ttl?", "topic?", "urgency?"),
        ),
        Operation(
            "shipment.create",
            Kind.COURIER,
            "create_shipment",
            ShipmentRequest.from_payload,
            (
                "order_id",
                "pickup_address?",
                "delivery_address?",
                "recipient_name?",
                "parcel_weight_grams?",
            ),
        ),
        Operation(
            "storage.put",
            Kind.STORAGE,
            "put",
            StoragePutRequest.from_payload,
            ("name", "content_b64", "content_type?"),
        ),
        Operation("storage.get", Kind.STORAGE, "get", StorageNameRequest.from_payload, ("name",)),
        Operation("storage.url", Kind.STORAGE, "url", StorageNameRequest.from_payload, ("name",)),
        Operation(
            "geocode",
            Kind.GEOCODING,
            "geocode",
            GeocodeRequest.from_payload,
            ("address", "country_code?"),
        ),
        Operation(
            "tax.quote",
            Kind.TAX,
            "quote",
            TaxQuoteRequest.from_payload,
            ("amount_minor", "currency", "country_code?", "category?"),
        ),
    )
}


def operations_of(kind: str) -> list[str]:
    """The operation names a kind offers, in table order."""
    return [name for name, op in OPERATIONS.items() if op.kind == kind]


def to_outcome(result: Any) -> Outcome:
    """A typed result as the worker's ``Outcome``: its ``provider_reference`` and the other
    fields as data (bytes as base64)."""
    data: dict[str, Any] = {}
    for name, value in vars(result).items():
        if name == "provider_reference":
            continue
        if isinstance(value, bytes):
            data[f"{name}_b64"] = base64.b64encode(value).decode()
        elif isinstance(value, Mapping):
            data[name] = dict(value)
        else:
            data[name] = value
    return Outcome(provider_reference=str(result.provider_reference), data=data)


class KindAdapter:
    """Base of the adapters of one kind: ``execute`` dispatches an operation to the typed method.

    Subclasses set ``name`` and ``kind`` and implement the kind's protocol."""

    name: str = ""  # instance-typed so subclasses satisfy ``base.Adapter`` (a Protocol)
    kind: str = ""

    def operation_for(self, operation: str) -> Operation:
        """The operation if this adapter's kind offers it and the adapter implements it."""
        op = OPERATIONS.get(operation)
        if op is None or op.kind != self.kind or not callable(getattr(self, op.method, None)):
            raise PermanentProviderError(
                f"operation {operation[:64]!r} is not offered by {self.kind or 'this'} providers",
                code="UNKNOWN_OPERATION",
            )
        return op

    def execute(self, call: Call) -> Outcome:
        op = self.operation_for(call.operation)
        request = op.parse(call.payload)
        method: Callable[[Any, CallContext], Any] = getattr(self, op.method)
        return to_outcome(method(request, CallContext.of(call)))
