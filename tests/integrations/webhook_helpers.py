"""Shared pieces of the inbound webhook tests (tests/integrations/test_webhooks_*.py)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest

from integrations import webhook_services
from integrations.signing import sign
from integrations.webhook_services import InboundEvent

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
COURIER_SECRET = "courier_test_secret"
URL = "/api/integrations/webhooks/{}"


def event_body(
    event_id: str,
    event_type: str = "payment.captured",
    *,
    order_id: str = "42",
    amount: int = 1500,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """A Stripe-shaped event, serialized once (the signature covers these exact bytes)."""
    event = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": 1_764_700_000,
        "data": {
            "object": {
                "id": f"ch_{event_id}",
                "object": "charge",
                "amount": amount,
                "currency": "ars",
                "metadata": {"order_id": order_id},
                **(extra or {}),
            }
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signed_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    return {"HTTP_X_AVENTIDE_SIGNATURE": sign(body, secret=secret, timestamp=timestamp)}


class Calls:
    """Handler calls per event id (thread-safe: handlers run in request threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_event: Counter[str] = Counter()
        self.events: list[InboundEvent] = []

    def __call__(self, event: InboundEvent) -> None:
        with self.lock:
            self.by_event[event.event_id] += 1
            self.events.append(event)


# Fixtures are imported by the test modules under their ``*_fixture`` names (pytest knows them
# by ``name=``), so the test parameters do not shadow the imports.


@pytest.fixture(name="webhook_settings")
def webhook_settings_fixture(settings: Any) -> Any:
    settings.INTEGRATIONS_WEBHOOK_PROVIDERS = {
        "payments": ["X-Aventide-Signature", "Stripe-Signature"],
        "courier": ["X-Aventide-Signature"],
    }
    settings.WEBHOOK_SECRETS = {"payments": [SECRET, OLD_SECRET], "courier": [COURIER_SECRET]}
    return settings


@pytest.fixture(name="handlers")
def handlers_fixture(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], Any]:
    """A fresh handler registry for the test (the apps' own registrations are restored)."""
    registry: dict[tuple[str, str], Any] = {}
    monkeypatch.setattr(webhook_services, "_HANDLERS", registry)
    return registry


@pytest.fixture(name="captured")
def captured_fixture(handlers: dict[tuple[str, str], Any]) -> Calls:
    """Counts payments ``payment.captured`` handler calls."""
    calls = Calls()
    webhook_services.register_handler("payments", "payment.captured", calls)
    return calls
