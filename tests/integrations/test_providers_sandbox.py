"""The sandbox providers behave like real ones: stable ids per key, one effect per key,
latency, injected failures that classify as the worker expects, signed webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integrations import signing
from integrations.providers import registry, sandbox
from integrations.providers.base import (
    Call,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.sandbox import LEDGER

SECRETS = {"payments": ["whsec-pay-1", "whsec-pay-old"], "courier": ["whsec-courier-1"]}


@pytest.fixture(autouse=True)
def sandbox_settings(settings: Any) -> Iterator[dict[str, Any]]:
    LEDGER.reset()
    settings.WEBHOOK_SECRETS = dict(SECRETS)
    settings.INTEGRATIONS_SANDBOX = {
        "latency_ms": 0,
        "failure_mode": "none",
        "seed": 7,
        "webhook_delay_ms": 0,
        "webhooks": False,  # on where a test plugs a deliver (the ``webhooks`` fixture)
        "per_kind": {},
    }
    yield settings.INTEGRATIONS_SANDBOX
    LEDGER.reset()


@pytest.fixture
def webhooks(settings: Any) -> Iterator[list[tuple[str, bytes, dict[str, str]]]]:
    configure(settings, webhooks=True)
    received: list[tuple[str, bytes, dict[str, str]]] = []
    with sandbox.use_deliver(lambda p, b, h: received.append((p, b, h))):
        yield received


def configure(settings: Any, **values: Any) -> None:
    settings.INTEGRATIONS_SANDBOX = {**settings.INTEGRATIONS_SANDBOX, **values}


def pay(key: str = "order:42:pay", attempt: int = 1, timeout: float = 5.0, **payload: Any) -> Call:
    return Call(
        kind="payments",
        operation="payment.create",
        payload={"amount_minor": 12_500, "currency": "ARS", "order_id": 42, **payload},
        idempotency_key=key,
        country_code="AR",
        timeout_seconds=timeout,
        attempt=attempt,
    )


def call(kind: str, operation: str, payload: dict[str, Any], key: str = "k-1") -> Call:
    return Call(kind, operation, payload, key, "AR", 5.0)


# --- ids and effects ------------------------------------------------------------------------


def test_the_same_key_returns_the_same_id_and_has_one_effect(webhooks: list[Any]) -> None:
    adapter = sandbox.SandboxPayments()
    first = adapter.execute(pay())
    again = adapter.execute(pay(attempt=2))
    other = adapter.execute(pay(key="order:43:pay"))
    assert first.provider_reference == again.provider_reference
    assert first.provider_reference.startswith("pi_sbx_")
    assert other.provider_reference != first.provider_reference
    assert LEDGER.calls("order:42:pay") == 2
    assert LEDGER.effect_count("order:42:pay") == 1
    assert LEDGER.effects == 2
    assert [json.loads(b)["data"]["object"]["id"] for _, b, _ in webhooks] == [
        first.provider_reference,
        other.provider_reference,
    ]  # the retry sent no second webhook


def test_ids_are_stable_across_processes_they_come_from_the_key_alone() -> None:
    ref = sandbox.SandboxPayments().execute(pay()).provider_reference
    LEDGER.reset()  # a fresh process
    assert sandbox.SandboxPayments().execute(pay()).provider_reference == ref
    assert ref == sandbox.provider_id("pi", "payments", "payment.create", "order:42:pay")


def test_outcome_carries_the_amount_from_the_payload() -> None:
    outcome = sandbox.SandboxPayments().execute(pay(amount_minor=999))
    assert outcome.data == {"status": "succeeded", "amount_minor": 999, "currency": "ARS"}


@pytest.mark.parametrize(
    ("adapter", "operation", "payload", "prefix"),
    [
        (sandbox.SandboxEmail, "email.send", {"to": "a@b.co", "subject": "s", "body": "b"}, "msg"),
        (sandbox.SandboxSms, "sms.send", {"to": "+5491155550000", "body": "b"}, "sms"),
        (sandbox.SandboxPush, "push.send", {"endpoint": "https://p/1", "title": "t"}, "push"),
        (sandbox.SandboxGeocoding, "geocode", {"address": "Corrientes 1234"}, "geo"),
        (sandbox.SandboxTax, "tax.quote", {"amount_minor": 1000, "currency": "ARS"}, "tax"),
    ],
)
def test_every_kind_answers_with_a_provider_id_stable_per_key(
    adapter: type[sandbox.SandboxAdapter], operation: str, payload: dict[str, Any], prefix: str
) -> None:
    first = adapter().execute(call(adapter.kind, operation, payload))
    again = adapter().execute(call(adapter.kind, operation, payload))
    assert first == again
    assert first.provider_reference.startswith(f"{prefix}_sbx_")


def test_tax_and_geocoding_answer_deterministically() -> None:
    quote = sandbox.SandboxTax().execute(
        call("tax", "tax.quote", {"amount_minor": 10_001, "currency": "MXN", "country_code": "MX"})
    )
    assert quote.data == {"tax_minor": 1600, "rate_bps": 1600, "currency": "MXN"}
    geo = [
        sandbox.SandboxGeocoding().execute(call("geocoding", "geocode", {"address": a}, key=k))
        for a, k in (("Corrientes 1234", "g1"), ("Corrientes 1234", "g2"), ("Florida 1", "g3"))
    ]
    assert geo[0].data == geo[1].data != geo[2].data
    assert -90 <= geo[0].data["latitude"] <= 90 and -180 <= geo[0].data["longitude"] <= 180


def test_sandbox_storage_keeps_what_was_put() -> None:
    adapter = sandbox.SandboxStorage()
    put = adapter.execute(
        call("storage", "storage.put", {"name": "ev/1.txt", "content_b64": "aGk="})
    )
    assert put.provider_reference == "ev/1.txt" and put.data["size"] == 2
    got = adapter.execute(call("storage", "storage.get", {"name": "ev/1.txt"}, key="k-2"))
    assert got.data == {"content_b64": "aGk="}
    with pytest.raises(PermanentProviderError) as exc:
        adapter.execute(call("storage", "storage.get", {"name": "nope"}, key="k-3"))
    assert exc.value.code == "STORAGE_NOT_FOUND"


# --- failure injection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "error", "status", "code"),
    [
        ("5xx", TransientProviderError, 503, "PROVIDER_UNAVAILABLE"),
        ("429", TransientProviderError, 429, "PROVIDER_RATE_LIMITED"),
        ("4xx", PermanentProviderError, 400, "PROVIDER_REFUSED"),
        ("timeout", ProviderTimeout, None, "PROVIDER_TIMEOUT"),
    ],
)
def test_failure_modes_classify_as_the_worker_expects(
    settings: Any, mode: str, error: type[Exception], status: int | None, code: str
) -> None:
    configure(settings, failure_mode=mode, retry_after_seconds=7)
    with pytest.raises(error) as exc:
        sandbox.SandboxPayments().execute(pay(email="ana@example.com"))
    assert type(exc.value) is error
    assert exc.value.status_code == status  # type: ignore[attr-defined]
    assert exc.value.code == code  # type: ignore[attr-defined]
    if mode == "429":
        assert exc.value.retry_after == 7  # type: ignore[attr-defined]
    assert "ana@example.com" not in str(exc.value) and "12500" not in str(exc.value)


@pytest.mark.parametrize("mode", ["5xx", "429", "4xx"])
def test_refused_calls_have_no_effect_and_send_no_webhook(
    settings: Any, webhooks: list[Any], mode: str
) -> None:
    configure(settings, failure_mode=mode)
    with pytest.raises((TransientProviderError, PermanentProviderError)):
        sandbox.SandboxPayments().execute(pay())
    assert LEDGER.calls("order:42:pay") == 1
    assert LEDGER.effect_count("order:42:pay") == 0
    assert webhooks == []


def test_a_timeout_loses_the_answer_not_the_effect_and_the_retry_is_the_same_payment(
    settings: Any, webhooks: list[Any]
) -> None:
    configure(settings, failure_mode="timeout")
    with pytest.raises(ProviderTimeout):
        sandbox.SandboxPayments().execute(pay())
    configure(settings, failure_mode="none")
    retry = sandbox.SandboxPayments().execute(pay(attempt=2))
    assert LEDGER.effect_count("order:42:pay") == 1
    assert len(webhooks) == 1
    assert json.loads(webhooks[0][1])["data"]["object"]["id"] == retry.provider_reference


def test_error_rate_with_a_seed_is_reproducible_and_near_the_rate(settings: Any) -> None:
    configure(settings, failure_mode="5xx", error_rate=0.3, seed=11)

    def run() -> list[bool]:
        failed = []
        for i in range(300):
            try:
                sandbox.SandboxEmail().execute(
                    call(
                        "email",
                        "email.send",
                        {"to": "a@b.co", "subject": "s", "body": "b"},
                        f"e{i}",
                    )
                )
                failed.append(False)
            except TransientProviderError:
                failed.append(True)
        return failed

    first, second = run(), run()
    assert first == second
    assert 0.2 <= sum(first) / len(first) <= 0.4
    configure(settings, seed=12)
    assert run() != first


def test_only_a_mode_fails_every_call_only_a_rate_fails_with_5xx(settings: Any) -> None:
    assert sandbox.config_for("payments").error_rate == 0
    configure(settings, failure_mode="429", error_rate=None)
    assert sandbox.config_for("payments").error_rate == 1.0
    configure(settings, failure_mode="none", error_rate=1.0)
    cfg = sandbox.config_for("payments")
    assert (cfg.failure_mode, cfg.error_rate) == ("5xx", 1.0)
    configure(settings, failure_mode="explode")
    with pytest.raises(ValueError, match="failure_mode"):
        sandbox.config_for("payments")


def test_failures_can_be_set_per_kind(settings: Any) -> None:
    configure(settings, per_kind={"payments": {"failure_mode": "5xx"}})
    with pytest.raises(TransientProviderError):
        sandbox.SandboxPayments().execute(pay())
    ok = sandbox.SandboxSms().execute(call("sms", "sms.send", {"to": "+541155550000", "body": "x"}))
    assert ok.provider_reference.startswith("sms_sbx_")


# --- latency ------------------------------------------------------------------------------


def test_latency_is_honoured_within_bounds(settings: Any) -> None:
    configure(settings, latency_ms=120)
    started = time.monotonic()
    sandbox.SandboxPayments().execute(pay())
    elapsed = time.monotonic() - started
    assert 0.12 <= elapsed < 0.12 + 0.5


def test_latency_beyond_the_call_timeout_is_a_timeout_after_the_timeout(settings: Any) -> None:
    configure(settings, latency_ms=5_000)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        sandbox.SandboxPayments().execute(pay(timeout=0.15))
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.15 + 0.5
    assert LEDGER.effect_count("order:42:pay") == 0


# --- webhooks -------------------------------------------------------------------------------


def test_payment_webhook_is_stripe_shaped_signed_and_verifies(webhooks: list[Any]) -> None:
    outcome = sandbox.SandboxPayments().execute(pay())
    [(provider, body, headers)] = webhooks
    assert provider == "payments"
    assert signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=SECRETS["payments"])
    with pytest.raises(signing.SignatureInvalid):
        signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=["whsec-pay-old"])
    event = json.loads(body)
    assert event["type"] == "payment.captured"
    assert event["id"].startswith("evt_sbx_") and isinstance(event["created"], int)
    assert event["data"]["object"] == {
        "id": outcome.provider_reference,
        "object": "payment_intent",
        "amount": 12_500,
        "currency": "ars",
        "status": "succeeded",
        "metadata": {"order_id": "42"},
    }


def test_refund_webhook_names_the_refund_and_its_payment(webhooks: list[Any]) -> None:
    refund = sandbox.SandboxPayments().execute(
        Call(
            "payments",
            "refund.create",
            {"payment_reference": "pi_1", "amount_minor": 500, "currency": "ARS", "order_id": 42},
            "ledger:txn:9",
            "AR",
            5.0,
        )
    )
    [(provider, body, headers)] = webhooks
    event = json.loads(body)
    assert (provider, event["type"]) == ("payments", "refund.succeeded")
    assert event["data"]["object"]["id"] == refund.provider_reference
    assert refund.provider_reference.startswith("re_sbx_")
    assert event["data"]["object"]["amount"] == 500
    assert event["data"]["object"]["metadata"] == {"order_id": "42"}
    assert signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=SECRETS["payments"])


@pytest.mark.parametrize("outcome", ["delivered", "attempt_failed"])
def test_courier_webhook_follows_the_setting(
    settings: Any, webhooks: list[Any], outcome: str
) -> None:
    configure(settings, courier_outcome=outcome)
    shipment = sandbox.SandboxCourier().execute(
        call(
            "courier",
            "shipment.create",
            {"order_id": 42, "pickup_address": "Calle 1", "delivery_address": "Calle 2"},
        )
    )
    [(provider, body, headers)] = webhooks
    event = json.loads(body)
    assert (provider, event["type"]) == ("courier", outcome)
    assert event["data"]["object"]["id"] == shipment.provider_reference
    assert event["data"]["object"]["metadata"] == {"order_id": "42"}
    assert event["data"]["object"]["tracking_code"] == shipment.data["tracking_code"]
    assert signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=SECRETS["courier"])


def test_no_secret_no_webhook_and_the_call_still_succeeds(
    settings: Any, webhooks: list[Any]
) -> None:
    settings.WEBHOOK_SECRETS = {}
    assert sandbox.SandboxPayments().execute(pay()).provider_reference
    assert webhooks == []


def test_a_failing_deliver_never_fails_the_provider_call(settings: Any) -> None:
    configure(settings, webhooks=True)

    def broken(provider: str, body: bytes, headers: dict[str, str]) -> None:
        raise ConnectionError("endpoint down")

    with sandbox.use_deliver(broken):
        assert sandbox.SandboxPayments().execute(pay()).provider_reference


COLLECTED: list[tuple[str, bytes, dict[str, str]]] = []


def collect(provider: str, body: bytes, headers: dict[str, str]) -> None:
    """A deliver function named by the ``deliver`` setting (SANDBOX_DELIVER)."""
    COLLECTED.append((provider, body, headers))


def test_the_deliver_setting_plugs_a_function_instead_of_http(settings: Any) -> None:
    COLLECTED.clear()
    configure(settings, webhooks=True, deliver="tests.integrations.test_providers_sandbox.collect")
    sandbox.SandboxPayments().execute(pay())
    [(provider, body, headers)] = COLLECTED
    assert provider == "payments"
    assert signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=SECRETS["payments"])


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes, dict[str, str]]] = []
    arrived = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, body, dict(self.headers)))
        self.send_response(200)
        self.end_headers()
        type(self).arrived.set()

    def log_message(self, *args: Any) -> None:
        pass


def test_default_delivery_posts_to_our_endpoint_after_the_delay_without_blocking(
    settings: Any,
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.received, _Recorder.arrived = [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        configure(
            settings,
            webhooks=True,
            webhook_base_url=f"http://127.0.0.1:{port}/",
            webhook_delay_ms=300,
        )
        started = time.monotonic()
        sandbox.SandboxPayments().execute(pay())
        assert time.monotonic() - started < 0.2  # the job does not wait for the webhook
        assert _Recorder.arrived.wait(5)
        assert time.monotonic() - started >= 0.3
        [(path, body, headers)] = _Recorder.received
        assert path == "/api/integrations/webhooks/payments"
        assert signing.verify(body, headers[signing.SIGNATURE_HEADER], secrets=SECRETS["payments"])
    finally:
        server.shutdown()
        server.server_close()


class _Scripted(BaseHTTPRequestHandler):
    """Answers the statuses of ``script`` in turn, then 200; records every body."""

    script: list[int] = []
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        type(self).bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        status = type(self).script.pop(0) if type(self).script else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted_endpoint(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Scripted]]:
    """Our webhook endpoint, answering as ``_Scripted.script`` says; fast redelivery waits."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    _Scripted.script, _Scripted.bodies = [], []
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    configure(
        settings, webhooks=True, webhook_base_url=f"http://127.0.0.1:{server.server_address[1]}"
    )
    monkeypatch.setattr(sandbox, "WEBHOOK_RETRY_BASE_SECONDS", 0.01)
    try:
        yield _Scripted
    finally:
        server.shutdown()
        server.server_close()


def _deliveries_settle(endpoint: type[_Scripted], at_least: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(endpoint.bodies) < at_least:
        time.sleep(0.02)
    time.sleep(0.3)  # and nothing more comes
    return len(endpoint.bodies)


@pytest.mark.parametrize("status", [503, 429])
def test_a_webhook_our_endpoint_refuses_for_now_is_redelivered_until_accepted(
    scripted_endpoint: type[_Scripted], status: int
) -> None:
    """A deploy or a database cut answers 5xx/429 for a moment: the event is not lost (the
    same event every time, so the receiver's dedupe makes the redelivery harmless)."""
    scripted_endpoint.script = [status, status]
    sandbox.SandboxPayments().execute(pay())
    assert _deliveries_settle(scripted_endpoint, 3) == 3
    assert len(set(scripted_endpoint.bodies)) == 1


def test_a_webhook_refused_with_a_4xx_is_not_redelivered(
    scripted_endpoint: type[_Scripted],
) -> None:
    scripted_endpoint.script = [400]
    sandbox.SandboxPayments().execute(pay())
    assert _deliveries_settle(scripted_endpoint, 1) == 1


def test_webhook_redelivery_is_bounded(settings: Any, scripted_endpoint: type[_Scripted]) -> None:
    settings.INTEGRATIONS_SANDBOX = {**settings.INTEGRATIONS_SANDBOX, "webhook_attempts": 3}
    scripted_endpoint.script = [503] * 10
    sandbox.SandboxPayments().execute(pay())
    assert _deliveries_settle(scripted_endpoint, 3) == 3


# --- settings -----------------------------------------------------------------------------


def test_every_kind_defaults_to_its_sandbox(settings: Any) -> None:
    from django.conf import settings as django_settings

    configured = {
        kind: django_settings.INTEGRATIONS_PROVIDERS[kind] for kind in sandbox.SANDBOX_ADAPTERS
    }
    assert configured == sandbox.SANDBOX_ADAPTERS
    registry.reset()
    assert isinstance(registry.adapter_for("payments", "AR"), sandbox.SandboxPayments)
    assert isinstance(registry.adapter_for("tax", "MX"), sandbox.SandboxTax)
    registry.reset()


def test_env_overrides_are_read_globally_and_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from aventide import settings as module

    monkeypatch.setenv("SANDBOX_LATENCY_MS", "40")
    monkeypatch.setenv("SANDBOX_FAILURE_MODE", "429")
    monkeypatch.setenv("SANDBOX_PAYMENTS_ERROR_RATE", "0.25")
    assert module._sandbox_overrides("SANDBOX_") == {"latency_ms": 40, "failure_mode": "429"}
    assert module._sandbox_overrides("SANDBOX_PAYMENTS_") == {"error_rate": 0.25}
    assert module._sandbox_overrides("SANDBOX_EMAIL_") == {}
