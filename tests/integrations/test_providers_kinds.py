"""Providers by kind: every operation reaches its typed method; anything else is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integrations.providers import kinds
from integrations.providers.base import Adapter, Call, Kind, Outcome, PermanentProviderError
from integrations.providers.kinds import OPERATIONS, CallContext, KindAdapter

ROOT = Path(__file__).resolve().parents[2]

#: one valid payload per operation
PAYLOADS: dict[str, dict[str, Any]] = {
    "payment.create": {"amount_minor": 12_500, "currency": "ars", "order_id": 42},
    "refund.create": {
        "payment_reference": "pi_1",
        "amount_minor": 500,
        "currency": "ARS",
        "order_id": "42",
    },
    "email.send": {"to": "ana@example.com", "subject": "Your gift", "body": "Hello"},
    "sms.send": {"to": "+5491155550000", "body": "Your gift is on its way"},
    "push.send": {"endpoint": "https://push.example/abc", "title": "Gift", "keys": {"p": "k"}},
    "shipment.create": {
        "order_id": 42,
        "pickup_address": "Calle 1",
        "delivery_address": "Calle 2",
        "parcel_weight_grams": 800,
    },
    "storage.put": {"name": "a/b.txt", "content_b64": "aGVsbG8=", "content_type": "text/plain"},
    "storage.get": {"name": "a/b.txt"},
    "storage.url": {"name": "a/b.txt"},
    "geocode": {"address": "Av. Corrientes 1234", "country_code": "ar"},
    "tax.quote": {"amount_minor": 10_000, "currency": "MXN", "country_code": "MX"},
}

REQUEST_TYPES = {
    "payment.create": kinds.PaymentRequest,
    "refund.create": kinds.RefundRequest,
    "email.send": kinds.EmailRequest,
    "sms.send": kinds.SmsRequest,
    "push.send": kinds.PushRequest,
    "shipment.create": kinds.ShipmentRequest,
    "storage.put": kinds.StoragePutRequest,
    "storage.get": kinds.StorageNameRequest,
    "storage.url": kinds.StorageNameRequest,
    "geocode": kinds.GeocodeRequest,
    "tax.quote": kinds.TaxQuoteRequest,
}


class Recorder(KindAdapter):
    """Implements every typed method; records what it was called with."""

    name = "recorder"

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.seen: list[tuple[str, object, CallContext]] = []

    def _record(self, method: str, request: object, ctx: CallContext) -> kinds.MessageResult:
        self.seen.append((method, request, ctx))
        return kinds.MessageResult(f"ref-{method}")

    def create_payment(self, request: Any, ctx: CallContext) -> Any:
        return self._record("create_payment", request, ctx)

    def refund(self, request: Any, ctx: CallContext) -> Any:
        return self._record("refund", request, ctx)

    def send(self, request: Any, ctx: CallContext) -> Any:
        return self._record("send", request, ctx)

    def create_shipment(self, request: Any, ctx: CallContext) -> Any:
        return self._record("create_shipment", request, ctx)

    def put(self, request: Any, ctx: CallContext) -> Any:
        return self._record("put", request, ctx)

    def get(self, request: Any, ctx: CallContext) -> Any:
        return self._record("get", request, ctx)

    def url(self, request: Any, ctx: CallContext) -> Any:
        return self._record("url", request, ctx)

    def geocode(self, request: Any, ctx: CallContext) -> Any:
        return self._record("geocode", request, ctx)

    def quote(self, request: Any, ctx: CallContext) -> Any:
        return self._record("quote", request, ctx)


def call(operation: str, payload: dict[str, Any] | None = None, kind: str = "") -> Call:
    op = OPERATIONS.get(operation)
    return Call(
        kind=kind or (op.kind if op else "payments"),
        operation=operation,
        payload=PAYLOADS.get(operation, {}) if payload is None else payload,
        idempotency_key="order:42:pay",
        country_code="ar",
        timeout_seconds=5.0,
        attempt=2,
    )


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_execute_dispatches_each_operation_to_its_typed_method(operation: str) -> None:
    op = OPERATIONS[operation]
    adapter = Recorder(op.kind)
    outcome = adapter.execute(call(operation))
    assert isinstance(outcome, Outcome)
    assert outcome.provider_reference == f"ref-{op.method}"
    [(method, request, ctx)] = adapter.seen
    assert method == op.method
    assert type(request) is REQUEST_TYPES[operation]
    assert ctx == CallContext("order:42:pay", "AR", 5.0, 2, operation)


def test_every_kind_offers_at_least_one_operation() -> None:
    assert {op.kind for op in OPERATIONS.values()} == set(Kind)


def test_payloads_are_parsed_into_typed_requests() -> None:
    adapter = Recorder("payments")
    adapter.execute(call("payment.create"))
    request = adapter.seen[0][1]
    assert request == kinds.PaymentRequest(amount_minor=12_500, currency="ARS", order_id="42")
    adapter = Recorder("storage")
    adapter.execute(call("storage.put"))
    put = adapter.seen[0][1]
    assert isinstance(put, kinds.StoragePutRequest) and put.content == b"hello"


@pytest.mark.parametrize("operation", ["payment.capture", "", "EMAIL.SEND", "shipment.create "])
def test_an_unknown_operation_is_refused_permanently(operation: str) -> None:
    with pytest.raises(PermanentProviderError) as exc:
        Recorder("payments").execute(call(operation, {}, kind="payments"))
    assert exc.value.code == "UNKNOWN_OPERATION"


def test_an_operation_of_another_kind_is_refused() -> None:
    adapter = Recorder("email")
    with pytest.raises(PermanentProviderError) as exc:
        adapter.execute(call("payment.create"))
    assert exc.value.code == "UNKNOWN_OPERATION"
    assert adapter.seen == []


def test_an_adapter_that_lacks_the_method_refuses_the_operation() -> None:
    class OnlyPayments(KindAdapter):
        name = "partial"
        kind = "payments"

        def create_payment(self, request: Any, ctx: CallContext) -> Any:
            return kinds.PaymentResult("pi_1", "succeeded", 1, "ARS")

    assert OnlyPayments().execute(call("payment.create")).provider_reference == "pi_1"
    with pytest.raises(PermanentProviderError) as exc:
        OnlyPayments().execute(call("refund.create"))
    assert exc.value.code == "UNKNOWN_OPERATION"


@pytest.mark.parametrize(
    ("operation", "payload", "key"),
    [
        ("payment.create", {"currency": "ARS", "order_id": 1}, "amount_minor"),
        (
            "payment.create",
            {"amount_minor": "100", "currency": "ARS", "order_id": 1},
            "amount_minor",
        ),
        (
            "payment.create",
            {"amount_minor": True, "currency": "ARS", "order_id": 1},
            "amount_minor",
        ),
        ("payment.create", {"amount_minor": 0, "currency": "ARS", "order_id": 1}, "amount_minor"),
        ("payment.create", {"amount_minor": 5, "currency": "pesos", "order_id": 1}, "currency"),
        ("email.send", {"to": "ana@example.com", "subject": "s"}, "body"),
        ("sms.send", {"to": 5491155550000, "body": "hi"}, "to"),
        ("storage.put", {"name": "x", "content_b64": "not base64!"}, "content_b64"),
        ("push.send", {"endpoint": "e", "title": "t", "data": {"a": ["b"]}}, "data"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_key_never_the_value(
    operation: str, payload: dict[str, Any], key: str
) -> None:
    with pytest.raises(PermanentProviderError) as exc:
        Recorder(OPERATIONS[operation].kind).execute(call(operation, payload))
    assert exc.value.code == "INVALID_PAYLOAD"
    assert repr(key) in exc.value.detail
    for value in payload.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in exc.value.detail


def test_sandbox_adapters_implement_their_kind_protocol_and_the_adapter_contract() -> None:
    from integrations.providers import sandbox

    protocols = {
        "payments": kinds.PaymentsProvider,
        "email": kinds.EmailProvider,
        "sms": kinds.SmsProvider,
        "push": kinds.PushProvider,
        "courier": kinds.CourierProvider,
        "storage": kinds.StorageProvider,
        "geocoding": kinds.GeocodingProvider,
        "tax": kinds.TaxProvider,
    }
    for kind, path in sandbox.SANDBOX_ADAPTERS.items():
        cls = getattr(sandbox, path.rsplit(".", 1)[1])
        adapter = cls()
        assert isinstance(adapter, Adapter)
        assert isinstance(adapter, protocols[kind])
        assert adapter.kind == kind
        assert adapter.name == "sandbox"


def test_the_operations_table_is_documented() -> None:
    text = (ROOT / "docs/operations/integrations.md").read_text()
    providers = text.split("## Providers", 1)[1]
    for name, op in OPERATIONS.items():
        assert f"`{name}`" in providers, name
        for key in op.payload_keys:
            assert f"`{key.rstrip('?')}`" in providers, (name, key)


def test_every_adapter_is_an_adapter_for_the_worker_statically_and_at_runtime() -> None:
    from integrations.providers import sandbox
    from integrations.providers.email_smtp import SmtpEmail
    from integrations.providers.payments_stripe import StripePayments
    from integrations.providers.storage import DjangoStorage

    # typed as the worker sees them: mypy checks these assignments against base.Adapter
    adapters: list[Adapter] = [
        sandbox.SandboxPayments(),
        sandbox.SandboxEmail(),
        sandbox.SandboxSms(),
        sandbox.SandboxPush(),
        sandbox.SandboxCourier(),
        sandbox.SandboxStorage(),
        sandbox.SandboxGeocoding(),
        sandbox.SandboxTax(),
        SmtpEmail(),
        StripePayments(),
        DjangoStorage(),
    ]
    for adapter in adapters:
        assert isinstance(adapter, Adapter)
        assert adapter.kind in set(Kind)
        assert adapter.name


def test_every_providers_variable_is_documented_for_operators() -> None:
    env_example = (ROOT / ".env.example").read_text()
    block = env_example.split("[providers]", 1)[1].split("[/providers]", 1)[0]
    names = [line.split("=", 1)[0] for line in block.splitlines() if "=" in line[:40]]
    names = [n for n in names if n and not n.startswith("#")]
    assert "SANDBOX_FAILURE_MODE" in names and "STRIPE_API_BASE" in names
    configuration = (ROOT / "docs/operations/configuration.md").read_text()
    settings_text = (ROOT / "aventide/settings.py").read_text()
    for name in names:
        generic = name.replace("_PAYMENTS", "_<KIND>").replace("_EMAIL", "_<KIND>")
        generic = generic.replace("_STORAGE", "_<KIND>").replace("_SMS", "_<KIND>")
        assert name in configuration or generic in configuration, name
        read_by_pattern = name.startswith("INTEGRATIONS_PROVIDER_") or name.endswith(
            ("_LATENCY_MS", "_ERROR_RATE", "_FAILURE_MODE")  # SANDBOX_[<KIND>_]...
        )
        assert f'"{name}"' in settings_text or read_by_pattern, name
