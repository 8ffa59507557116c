"""Payments on the official stripe library, against a local stub of Stripe's API that records
requests: our idempotency key is Stripe's Idempotency-Key, the amount is the payload's, a retry
is one effect, and Stripe's errors classify as transient or permanent."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from integrations.providers.base import (
    Call,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.payments_stripe import StripePayments

API_KEY = "sk_test_stub_0123456789"
# stripe 16.1 hands httpx its form body as ``data=``; httpx deprecates that (not our call)
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class StripeStub:
    """Stripe's API as far as this adapter uses it. Like Stripe, a request whose
    Idempotency-Key was seen gets the stored answer and no second effect."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.effects: dict[str, dict[str, Any]] = {}
        self.script: list[Scripted] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                key = self.headers.get("Idempotency-Key", "")
                with stub.lock:
                    stub.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "form": form}
                    )
                    scripted = stub.script.pop(0) if stub.script else None
                    if scripted is None:
                        answer = stub.effects.get(key)
                        if answer is None:
                            answer = stub._effect(self.path, form, len(stub.effects) + 1)
                            stub.effects[key] = answer
                        scripted = Scripted(200, answer)
                if scripted.delay:
                    time.sleep(scripted.delay)
                payload = json.dumps(scripted.body).encode()
                try:
                    self.send_response(scripted.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in scripted.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def _effect(path: str, form: dict[str, str], n: int) -> dict[str, Any]:
        if path == "/v1/refunds":
            return {
                "id": f"re_stub_{n}",
                "object": "refund",
                "amount": int(form["amount"]),
                "currency": "ars",
                "payment_intent": form["payment_intent"],
                "status": "succeeded",
            }
        return {
            "id": f"pi_stub_{n}",
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "status": "succeeded" if form.get("confirm") == "true" else "requires_payment_method",
        }

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def stub(settings: Any) -> Iterator[StripeStub]:
    server = StripeStub()
    server.thread.start()
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = server.base
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def pay(key: str = "order:42:pay", timeout: float = 5.0, **payload: Any) -> Call:
    return Call(
        kind="payments",
        operation="payment.create",
        payload={"amount_minor": 12_500, "currency": "ARS", "order_id": 42, **payload},
        idempotency_key=key,
        country_code="AR",
        timeout_seconds=timeout,
    )


def error(status: int, type_: str, code: str = "", message: str = "", **headers: str) -> Scripted:
    body = {"error": {"type": type_, "code": code, "message": message}}
    return Scripted(status, body, headers)


def test_payment_sends_our_idempotency_key_and_the_payload_amount(stub: StripeStub) -> None:
    outcome = StripePayments().execute(pay(payment_method="pm_card_visa"))
    [request] = stub.requests
    assert request["path"] == "/v1/payment_intents"
    assert request["headers"]["Idempotency-Key"] == "order:42:pay"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["form"]["amount"] == "12500"
    assert request["form"]["currency"] == "ars"
    assert request["form"]["metadata[order_id]"] == "42"
    assert request["form"]["confirm"] == "true"
    assert outcome.provider_reference == "pi_stub_1"
    assert outcome.data == {"status": "succeeded", "amount_minor": 12_500, "currency": "ARS"}


def test_a_retry_with_the_same_key_is_one_effect(stub: StripeStub) -> None:
    adapter = StripePayments()
    first = adapter.execute(pay())
    again = adapter.execute(pay())
    other = adapter.execute(pay(key="order:43:pay", amount_minor=700))
    assert first.provider_reference == again.provider_reference == "pi_stub_1"
    assert other.provider_reference == "pi_stub_2"
    assert len(stub.requests) == 3
    assert len(stub.effects) == 2
    assert [r["headers"]["Idempotency-Key"] for r in stub.requests] == [
        "order:42:pay",
        "order:42:pay",
        "order:43:pay",
    ]


def test_a_transient_failure_then_the_retry_is_still_one_payment(stub: StripeStub) -> None:
    stub.script.append(error(503, "api_error", message="overloaded"))
    with pytest.raises(TransientProviderError):
        StripePayments().execute(pay())
    assert StripePayments().execute(pay()).provider_reference == "pi_stub_1"
    assert len(stub.effects) == 1
    assert len(stub.requests) == 2  # the library itself did not retry


def test_refund_carries_the_ledger_key_and_the_payment(stub: StripeStub) -> None:
    outcome = StripePayments().execute(
        Call(
            "payments",
            "refund.create",
            {
                "payment_reference": "pi_stub_9",
                "amount_minor": 500,
                "currency": "ARS",
                "order_id": 42,
                "reason": "requested_by_customer",
            },
            "ledger:txn:77",
            "AR",
            5.0,
        )
    )
    [request] = stub.requests
    assert request["path"] == "/v1/refunds"
    assert request["headers"]["Idempotency-Key"] == "ledger:txn:77"
    assert request["form"]["payment_intent"] == "pi_stub_9"
    assert request["form"]["amount"] == "500"
    assert request["form"]["reason"] == "requested_by_customer"
    assert outcome.provider_reference == "re_stub_1"
    assert outcome.data["status"] == "succeeded"


@pytest.mark.parametrize(
    ("scripted", "error_type", "status", "code"),
    [
        (error(500, "api_error"), TransientProviderError, 500, "PROVIDER_UNAVAILABLE"),
        (error(502, "api_error"), TransientProviderError, 502, "PROVIDER_UNAVAILABLE"),
        (
            error(429, "invalid_request_error", "rate_limit", **{"Retry-After": "3"}),
            TransientProviderError,
            429,
            "PROVIDER_RATE_LIMITED",
        ),
        (
            error(402, "card_error", "card_declined", "Card 4242 of ana@example.com declined"),
            PermanentProviderError,
            402,
            "PAYMENT_DECLINED",
        ),
        (
            error(400, "invalid_request_error", "parameter_invalid_integer", "Bad amount"),
            PermanentProviderError,
            400,
            "PROVIDER_REFUSED",
        ),
        (
            error(400, "idempotency_error", "", "Keys for idempotent requests can only be used"),
            PermanentProviderError,
            400,
            "IDEMPOTENCY_KEY_REUSED",
        ),
        (
            error(401, "invalid_request_error", "", f"Invalid API Key provided: {API_KEY}"),
            PermanentProviderError,
            401,
            "PROVIDER_AUTH_FAILED",
        ),
        (
            error(404, "invalid_request_error", "resource_missing"),
            PermanentProviderError,
            404,
            "PROVIDER_REFUSED",
        ),
    ],
)
def test_stripe_errors_classify_and_leak_nothing(
    stub: StripeStub,
    scripted: Scripted,
    error_type: type[Exception],
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stub.script.append(scripted)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(error_type) as exc:
        StripePayments().execute(pay())
    logged = caplog.text + "".join(capsys.readouterr())
    assert API_KEY not in logged and "ana@example.com" not in logged
    err = exc.value
    assert type(err) is error_type
    assert (err.status_code, err.code) == (status, code)  # type: ignore[attr-defined]
    if status == 429:
        assert err.retry_after == 3.0  # type: ignore[attr-defined]
    text = str(err)
    for secret in (API_KEY, "ana@example.com", "4242", "Bad amount", "Keys for"):
        assert secret not in text
    assert len(stub.effects) == 0


def test_a_stripe_outage_at_the_network_level_is_transient(settings: Any) -> None:
    import socket

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.STRIPE_API_KEY = API_KEY
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    with pytest.raises(TransientProviderError) as exc:
        StripePayments().execute(pay())
    assert exc.value.code == "PROVIDER_UNREACHABLE"
    assert API_KEY not in str(exc.value)


def test_no_answer_within_the_timeout_is_a_provider_timeout(stub: StripeStub) -> None:
    stub.script.append(Scripted(200, {"id": "pi_late"}, delay=1.5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        StripePayments().execute(pay(timeout=0.3))
    assert time.monotonic() - started < 1.4


def test_without_an_api_key_nothing_is_sent_and_the_job_is_refused(
    stub: StripeStub, settings: Any
) -> None:
    settings.STRIPE_API_KEY = ""
    with pytest.raises(PermanentProviderError) as exc:
        StripePayments().execute(pay())
    assert exc.value.code == "PROVIDER_NOT_CONFIGURED"
    assert stub.requests == []
