"""Exactly-once processing under duplicates: 1,000 deliveries with 30% duplicates in shuffled
order, and (on PostgreSQL) threads posting the same events at the same moment -- the UNIQUE
(provider, event_id) constraint holds and no request answers 5xx."""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from integrations import webhook_services
from integrations.models import WebhookEvent
from tests.integrations.webhook_helpers import (
    COURIER_SECRET,
    SECRET,
    URL,
    Calls,
    event_body,
    handlers_fixture,  # noqa: F401  # fixture
    signed_headers,
    webhook_settings_fixture,  # noqa: F401  # fixture
)

DELIVERIES = 1000
DUPLICATE_SHARE = 0.3


@pytest.fixture
def calls(handlers: dict[tuple[str, str], Any]) -> Calls:
    counter = Calls()
    webhook_services.register_handler("payments", "payment.captured", counter)
    webhook_services.register_handler("courier", "delivered", counter)
    return counter


def delivery(index: int) -> tuple[str, bytes]:
    """Event ``index``: payments captures, every third one a courier delivery."""
    if index % 3 == 2:
        return "courier", event_body(f"dlv_{index}", "delivered", order_id=str(index))
    return "payments", event_body(f"evt_{index}", order_id=str(index))


def headers_for(provider: str, body: bytes) -> dict[str, Any]:
    return signed_headers(body, secret=SECRET if provider == "payments" else COURIER_SECRET)


@pytest.mark.django_db
@pytest.mark.usefixtures("webhook_settings")
@pytest.mark.timeout(900)
def test_webhook_receive_1000_deliveries_30pct_duplicates_processed_exactly_once(
    api_client: Any, django_capture_on_commit_callbacks: Any, calls: Calls
) -> None:
    rng = random.Random(20261202)
    unique = int(DELIVERIES * (1 - DUPLICATE_SHARE))
    plan = list(range(unique)) + [rng.randrange(unique) for _ in range(DELIVERIES - unique)]
    rng.shuffle(plan)
    statuses: Counter[int] = Counter()
    duplicates = 0
    for index in plan:
        provider, body = delivery(index)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                URL.format(provider),
                data=body,
                content_type="application/json",
                **headers_for(provider, body),
            )
        statuses[response.status_code] += 1
        duplicates += bool(response.json()["duplicate"])
    assert statuses == {200: DELIVERIES}
    assert duplicates == DELIVERIES - unique
    assert WebhookEvent.objects.count() == unique
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert len(calls.by_event) == unique
    assert set(calls.by_event.values()) == {1}  # every event handled exactly once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("webhook_settings")
@pytest.mark.timeout(600)
def test_webhook_receive_concurrent_duplicates_hold_the_unique_constraint(calls: Calls) -> None:
    events, senders = 10, 6
    barrier = threading.Barrier(senders)
    results: list[tuple[int, bool | None]] = []
    lock = threading.Lock()

    def sender() -> None:
        client = Client(raise_request_exception=False)
        try:
            for index in range(events):
                provider, body = delivery(index)
                barrier.wait(timeout=60)  # every thread posts event ``index`` at once
                response = client.post(
                    URL.format(provider),
                    data=body,
                    content_type="application/json",
                    **headers_for(provider, body),
                )
                duplicate = (
                    bool(response.json()["duplicate"]) if response.status_code == 200 else None
                )
                with lock:
                    results.append((response.status_code, duplicate))
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(results) == events * senders
    assert Counter(status for status, _ in results) == {200: events * senders}
    assert sum(1 for _, duplicate in results if duplicate is False) == events
    assert WebhookEvent.objects.count() == events
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert set(calls.by_event.values()) == {1} and len(calls.by_event) == events
