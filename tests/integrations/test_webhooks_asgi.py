"""Webhook deliveries through the real ASGI server under concurrent clients: a provider that
retries (the same event many times at once) gets 200 every time, and the event is stored,
queued and processed exactly once."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection

from integrations.models import Job, JobStatus, WebhookEvent
from integrations.signing import sign
from tests.integrations.webhook_helpers import event_body
from tests.ops.live_server import live_server
from tests.ops.test_pool_live import dsn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SECRET = "asgi-webhook-test-secret"
CLIENTS = 12


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_through_the_asgi_server_store_each_event_once(
    tmp_path: Path,
) -> None:
    env = {
        "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
        "WEB_CONCURRENCY": "1",
        "ASGI_THREADS": "8",
        "DB_POOL_MAX_SIZE": "8",
        "DB_POOL_TIMEOUT_SECONDS": "30",
        "WEBHOOK_SECRET_PAYMENTS": SECRET,
        "PGAPPNAME": f"aventide-webhook-race-{os.getpid()}",
    }
    # a type no app handles: this test is about storing and queueing once (the handlers of
    # payment.captured & co are exercised in tests/orders/test_provider_paths.py)
    bodies = [event_body(f"evt_asgi_{n}", "charge.updated") for n in range(5)]
    with live_server(tmp_path, env) as server:

        def deliver(index: int) -> list[tuple[int, bool]]:
            answers = []
            with httpx.Client(base_url=server.url, timeout=120) as http:
                for body in bodies:  # every client sends every event: 11 duplicates each
                    response = http.post(
                        "/api/integrations/webhooks/payments",
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "X-Aventide-Signature": sign(body, secret=SECRET),
                        },
                    )
                    payload = response.json()
                    answers.append((response.status_code, bool(payload.get("duplicate"))))
            return answers

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            answers = [a for batch in pool.map(deliver, range(CLIENTS)) for a in batch]
        log = server.log()

    assert Counter(status for status, _ in answers) == {200: CLIENTS * len(bodies)}, log[-3000:]
    assert sum(1 for _, duplicate in answers if not duplicate) == len(bodies)
    events = WebhookEvent.objects.filter(provider="payments")
    assert sorted(events.values_list("event_id", flat=True)) == sorted(
        f"evt_asgi_{n}" for n in range(5)
    )
    jobs = Job.objects.filter(kind="inbound")
    assert jobs.count() == len(bodies)
    assert set(jobs.values_list("status", flat=True)) == {JobStatus.SUCCEEDED}
    # no handler is registered for charge.updated: stored, acknowledged, ignored once
    assert set(events.values_list("status", "attempts")) == {(WebhookEvent.Status.IGNORED, 1)}
    assert "Traceback" not in log
