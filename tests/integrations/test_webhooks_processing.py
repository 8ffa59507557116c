"""Processing stored webhook events: handlers once, unknown types ignored, RetryLater keeps
the event pending (a refund before its capture), a failing handler rolls back and is
recorded as failed, and the task is safe to run twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit import services as audit
from audit.models import Event as AuditEvent
from integrations import services as outbox
from integrations import webhook_services
from integrations.models import Job, JobStatus, WebhookEvent
from integrations.webhook_services import InboundEvent, RetryLater, process_event
from tests.audit_actions import TestOnlyAction
from tests.integrations.webhook_helpers import (
    URL,
    Calls,
    captured_fixture,  # noqa: F401  # fixture
    event_body,
    handlers_fixture,  # noqa: F401  # fixture
    signed_headers,
    webhook_settings_fixture,  # noqa: F401  # fixture
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_settings", "handlers")]


@pytest.fixture
def deliver(api_client: Any, django_capture_on_commit_callbacks: Any) -> Any:
    def send(body: bytes, provider: str = "payments") -> WebhookEvent:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                URL.format(provider),
                data=body,
                content_type="application/json",
                **signed_headers(body),
            )
        assert response.status_code == 200, response.content[:300]
        return WebhookEvent.objects.get(provider=provider, event_id=body_id(body))

    return send


def body_id(body: bytes) -> str:
    return str(json.loads(body)["id"])


class Ledger:
    """A toy money state for order tolerance: a refund needs its capture first."""

    def __init__(self) -> None:
        self.captured: set[str] = set()
        self.refunded: list[str] = []

    def capture(self, event: InboundEvent) -> None:
        self.captured.add(str(event.payload["data"]["object"]["metadata"]["order_id"]))

    def refund(self, event: InboundEvent) -> None:
        order_id = str(event.payload["data"]["object"]["metadata"]["order_id"])
        if order_id not in self.captured:
            raise RetryLater("capture not seen yet")
        if order_id not in self.refunded:  # idempotent
            self.refunded.append(order_id)


def test_process_event_refund_before_capture_waits_then_applies(deliver: Any) -> None:
    ledger = Ledger()
    webhook_services.register_handler("payments", "payment.captured", ledger.capture)
    webhook_services.register_handler("payments", "refund.succeeded", ledger.refund)

    refund = deliver(event_body("evt_refund", "refund.succeeded", order_id="7"))
    assert refund.status == WebhookEvent.Status.RECEIVED  # pending, not failed
    assert refund.attempts == 1 and refund.last_error == "retry later: capture not seen yet"
    assert ledger.refunded == []

    capture = deliver(event_body("evt_capture", "payment.captured", order_id="7"))
    assert capture.status == WebhookEvent.Status.PROCESSED

    job = _job_of(refund)  # the outbox scheduled the retry
    assert (job.status, job.last_error_code) == (JobStatus.RETRY_SCHEDULED, "WEBHOOK_RETRY_LATER")
    _run_when_due(job)
    assert _job_of(refund).status == JobStatus.SUCCEEDED
    refund.refresh_from_db()
    assert refund.status == WebhookEvent.Status.PROCESSED and refund.attempts == 2
    assert refund.last_error == ""
    assert ledger.refunded == ["7"]


def test_process_event_retry_later_raises_for_the_retry_path(deliver: Any) -> None:
    webhook_services.register_handler("payments", "refund.succeeded", Ledger().refund)
    event = deliver(event_body("evt_r", "refund.succeeded"))
    with pytest.raises(RetryLater):
        process_event(event.pk)
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.RECEIVED, 2)


def test_process_event_failing_handler_rolls_back_and_is_marked_failed(deliver: Any) -> None:
    state = {"broken": True}

    def handler(event: InboundEvent) -> None:
        audit.record(TestOnlyAction.JOB_RAN, ("webhook_test", event.event_id))
        if state["broken"]:
            raise RuntimeError("provider said no for ana@example.com")

    webhook_services.register_handler("payments", "payment.captured", handler)
    event = deliver(event_body("evt_fail"))
    assert event.status == WebhookEvent.Status.FAILED and event.attempts == 1
    assert event.last_error.startswith("RuntimeError: provider said no for")
    assert "ana@example.com" not in event.last_error
    assert not AuditEvent.objects.filter(action="job.ran").exists()  # rolled back

    with pytest.raises(RuntimeError):
        process_event(event.pk)
    state["broken"] = False
    assert process_event(event.pk) == "processed"
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 3, "")
    assert AuditEvent.objects.filter(action="job.ran").count() == 1


def test_process_event_twice_runs_the_handler_once(deliver: Any, captured: Calls) -> None:
    event = deliver(event_body("evt_twice"))
    assert process_event(event.pk) == "already_done"
    assert _job_of(event).status == JobStatus.SUCCEEDED
    assert captured.by_event == {"evt_twice": 1}
    event.refresh_from_db()
    assert event.attempts == 1


def test_process_event_unknown_type_is_ignored_once(deliver: Any, captured: Calls) -> None:
    event = deliver(event_body("evt_unknown", "charge.dispute.created"))
    assert event.status == WebhookEvent.Status.IGNORED and event.processed_at is not None
    assert process_event(event.pk) == "already_done"
    assert not captured.by_event
    outcome = AuditEvent.objects.get(action="integration.webhook_processed").data["outcome"]
    assert outcome == "ignored"


def test_process_event_missing_row() -> None:
    assert process_event(987654321) == "missing"


def test_register_handler_refuses_a_second_handler_for_the_same_type() -> None:
    def one(event: InboundEvent) -> None: ...

    def other(event: InboundEvent) -> None: ...

    webhook_services.register_handler("courier", "delivered", one)
    webhook_services.register_handler("courier", "delivered", one)  # same: no-op
    with pytest.raises(ValueError, match="already registered"):
        webhook_services.register_handler("courier", "delivered", other)
    assert webhook_services.handler_for("courier", "delivered") is one


def _job_of(event: WebhookEvent) -> Job:
    return Job.objects.get(idempotency_key=f"webhook-event:{event.pk}")


def _run_when_due(job: Job) -> None:
    """Skip the backoff wait, then run the job as the worker would."""
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    outbox.job_run(job_id=job.pk)


def test_webhook_event_whose_dispatch_was_lost_is_run_by_the_outbox_dispatcher(
    api_client: Any, captured: Calls, django_capture_on_commit_callbacks: Any
) -> None:
    body = event_body("evt_lost")
    # No after-commit effects run: as if the broker was down when the request committed.
    response = api_client.post(
        URL.format("payments"), data=body, content_type="application/json", **signed_headers(body)
    )
    assert response.json() == {"received": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.RECEIVED and event.attempts == 0
    assert _job_of(event).status == JobStatus.PENDING
    with django_capture_on_commit_callbacks(execute=True):  # the beat's hand-off to a worker
        report = outbox.jobs_dispatch_due()
    assert report.dispatched == [_job_of(event).pk]
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert captured.by_event == {"evt_lost": 1}
    assert _job_of(event).status == JobStatus.SUCCEEDED


def test_webhook_event_whose_handler_keeps_failing_ends_in_the_dlq(deliver: Any) -> None:
    def handler(event: InboundEvent) -> None:
        raise RuntimeError("order 7 is locked by ana@example.com")

    webhook_services.register_handler("payments", "payment.captured", handler)
    event = deliver(event_body("evt_dead"))
    job = _job_of(event)
    assert job.status == JobStatus.RETRY_SCHEDULED
    assert job.last_error_code == "WEBHOOK_HANDLER_FAILED"
    assert "ana@example.com" not in job.last_error
    while job.status == JobStatus.RETRY_SCHEDULED:
        _run_when_due(job)
        job.refresh_from_db()
    assert job.status == JobStatus.DEAD and job.attempts == job.max_attempts
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED and event.attempts == job.max_attempts


def test_webhook_receive_and_process_query_budgets(
    django_assert_num_queries: Any, captured: Calls
) -> None:
    """A new event: insert + audit row + its outbox job (one INSERT ... ON CONFLICT, intent
    audit row) (+ the test's savepoint pair); a duplicate: the one insert that does nothing;
    processing: lock, update, audit row."""
    body = event_body("evt_budget")
    headers = {"X-Aventide-Signature": signed_headers(body)["HTTP_X_AVENTIDE_SIGNATURE"]}
    with django_assert_num_queries(6):
        receipt = webhook_services.webhook_receive(provider="payments", body=body, headers=headers)
    with django_assert_num_queries(3):
        again = webhook_services.webhook_receive(provider="payments", body=body, headers=headers)
    assert receipt.event_pk is not None and again.duplicate
    with django_assert_num_queries(5):
        assert process_event(receipt.event_pk) == "processed"
    assert captured.by_event == {"evt_budget": 1}


def test_redact_payload_keeps_numeric_ids_that_look_like_phone_numbers() -> None:
    payload = {
        "id": "evt_1",
        "type": "payment.captured",
        "data": {
            "object": {
                "id": "5551234567",
                "amount": 1500,
                "metadata": {"order_id": "12345678901", "note": "call +54 11 5555 1234"},
                "customer_phone": "+54 11 5555 1234",
            }
        },
    }
    obj = webhook_services.redact_payload(payload)["data"]["object"]
    assert (obj["id"], obj["amount"], obj["metadata"]["order_id"]) == (
        "5551234567",
        1500,
        "12345678901",
    )
    assert "5555 1234" not in json.dumps(obj)


def test_note_rejected_body_counts_only_webhook_paths(json_logs: Any) -> None:
    webhook_services.note_rejected_body("/api/integrations/webhooks/courier")
    webhook_services.note_rejected_body("/api/integrations/webhooks/<script>")
    webhook_services.note_rejected_body("/api/orders")
    outcomes = [
        (line["provider"], line["outcome"])
        for line in json_logs.events(webhook_services.METRIC_INTEGRATION_WEBHOOK)
    ]
    assert outcomes == [("courier", "too_large"), ("unknown", "too_large")]
