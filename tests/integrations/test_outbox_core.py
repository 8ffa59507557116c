"""The outbox: enqueue in the caller's frame, run after commit, classify, audit, budgets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.models import Event
from aventide.accounts.contracts import use_case
from aventide.core.errors import IdempotencyKeyReused
from aventide.core.metrics import count_of
from aventide.core.principal import SYSTEM
from integrations import executors, services
from integrations.errors import IntegrationPayloadInvalid
from integrations.models import Attempt, Job, JobStatus
from integrations.providers.base import Call, Outcome
from tests.integrations.conftest import KIND, FakeProvider, make_due

pytestmark = pytest.mark.django_db


def _enqueue(key: str = "k-1", **overrides: Any) -> Job:
    args: dict[str, Any] = {
        "kind": KIND,
        "operation": "email.send",
        "payload": {"to": "ana@example.com", "template": "invite", "orderId": 7},
        "idempotency_key": key,
        "country_code": "ar",
    }
    args.update(overrides)
    return services.enqueue(**args)


def _actions(job: Job) -> list[str]:
    return list(
        Event.objects.filter(target_type="job", target_id=str(job.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_enqueue_writes_pending_job_and_intent_and_runs_after_commit(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = _enqueue()
        assert job.status == JobStatus.PENDING
        assert job.country_code == "AR"
        assert provider.calls == []  # nothing leaves before commit
    assert len(callbacks) == 1
    intent = Event.objects.get(action="integration.intent", target_id=str(job.pk))
    assert intent.actor_id == SYSTEM.id
    assert intent.data["payload"]["to"] == "[email]"  # redacted evidence
    assert intent.data["idempotencyKey"] == "k-1"
    callbacks[0]()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.provider_reference == "ref-k-1"
    assert provider.calls == ["k-1"]
    assert _actions(job) == ["integration.intent", "integration.result"]
    result = Event.objects.get(action="integration.result", target_id=str(job.pk))
    assert result.data["status"] == "succeeded"
    assert result.data["attempts"] == 1
    assert result.data["providerReference"] == "ref-k-1"
    assert len(result.data["responseDigest"]) == 64
    attempt = Attempt.objects.get(job=job)
    assert attempt.outcome == "succeeded" and attempt.provider == "fake"
    # done: the stored payload keeps no PII any longer
    assert job.payload == {"to": "[email]", "template": "invite", "orderId": 7}


def test_enqueue_joins_the_callers_frame_and_rolls_back_with_it(provider: FakeProvider) -> None:
    class Boom(Exception):
        pass

    def enqueue_then_fail() -> None:
        with use_case(SYSTEM):
            _enqueue()
            raise Boom

    with pytest.raises(Boom):
        enqueue_then_fail()
    assert not Job.objects.exists()
    assert not Event.objects.filter(action="integration.intent").exists()
    assert provider.calls == []


def test_enqueue_same_key_same_payload_returns_existing_job(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = _enqueue()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = _enqueue()
    assert again.pk == first.pk
    assert callbacks == []  # not published again
    assert Event.objects.filter(action="integration.intent").count() == 1
    assert provider.calls == ["k-1"]


def test_enqueue_same_key_other_payload_is_idempotency_key_reused(provider: FakeProvider) -> None:
    _enqueue()
    with pytest.raises(IdempotencyKeyReused) as exc:
        _enqueue(payload={"to": "other@example.com"})
    assert exc.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert Job.objects.count() == 1


def test_enqueue_refuses_empty_key() -> None:
    with pytest.raises(IntegrationPayloadInvalid):
        _enqueue(key=" ")


def test_job_run_transient_schedules_retry_with_backoff(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    provider.mode = "transient"
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        job = _enqueue()
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_SCHEDULED
    assert job.attempts == 1
    assert job.last_error_code == "PROVIDER_UNAVAILABLE"
    # attempt 1: full jitter in [0, base=1s]
    assert before <= job.next_attempt_at <= timezone.now() + timedelta(seconds=1)
    assert _actions(job) == ["integration.intent"]  # no result until the job ends
    attempt = Attempt.objects.get(job=job)
    assert (attempt.outcome, attempt.status_code) == ("transient", 503)


def test_job_run_429_honours_retry_after(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    provider.mode, provider.retry_after = "throttled", 120.0
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        job = _enqueue()
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_SCHEDULED
    assert job.last_error_code == "PROVIDER_THROTTLED"
    assert job.next_attempt_at >= before + timedelta(seconds=120)


def test_job_run_permanent_is_dead_at_once_with_dlq_metric_and_alert(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    provider.mode = "permanent"
    dlq_before = count_of("METRIC_INTEGRATION_DLQ", provider=KIND, code="PROVIDER_REFUSED")
    with django_capture_on_commit_callbacks(execute=True):
        job = _enqueue()
    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    assert job.attempts == 1
    assert job.last_error_code == "PROVIDER_REFUSED"
    assert "ana@example.com" not in job.last_error  # redacted
    assert "ana@example.com" not in Attempt.objects.get(job=job).error
    assert count_of("METRIC_INTEGRATION_DLQ", provider=KIND, code="PROVIDER_REFUSED") == (
        dlq_before + 1
    )
    alerts = json_logs.events("ALERT_INTEGRATION_DLQ")
    assert [a["jobId"] for a in alerts] == [job.pk]
    result = Event.objects.get(action="integration.result", target_id=str(job.pk))
    assert result.data["status"] == "dead"
    assert result.data["errorCode"] == "PROVIDER_REFUSED"


def test_job_run_not_due_or_done_does_nothing(provider: FakeProvider) -> None:
    job = _enqueue()
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    assert services.job_run(job_id=job.pk) is None
    make_due()
    assert services.job_run(job_id=job.pk) is not None
    assert services.job_run(job_id=job.pk) is None  # safe to run twice
    assert provider.calls == ["k-1"]


def test_job_run_local_executor_skips_breaker(
    django_capture_on_commit_callbacks: Any, memory_breaker: Any
) -> None:
    seen: list[Call] = []

    def handle(call: Call) -> Outcome:
        seen.append(call)
        return Outcome(provider_reference="local-1")

    executors.register_local("local-test", handle)  # not "inbound": that one is real
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = _enqueue(kind="local-test", operation="noop", payload={"eventId": 1})
    finally:
        executors.unregister_local("local-test")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert [c.operation for c in seen] == ["noop"]
    assert memory_breaker.open_until("local-test") == 0.0


def test_job_run_query_budget(provider: FakeProvider, django_assert_max_num_queries: Any) -> None:
    job = _enqueue()
    # PostgreSQL: claim = 1 statement (lock + start, no transaction of its own); settle = 1
    # statement (guarded update + attempt) + audit, in 1 savepoint pair. Elsewhere: claim
    # select + update, settle select + update + attempt + audit, 2 savepoint pairs.
    budget = 5 if services._claims_in_one_statement() else 10
    with django_assert_max_num_queries(budget):
        services.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


@pytest.mark.parametrize("one_statement", [True, False])
def test_both_claim_paths_run_a_job_to_the_same_rows(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, one_statement: bool
) -> None:
    if one_statement and not services._claims_in_one_statement():
        pytest.skip("the one-statement claim is PostgreSQL's")
    monkeypatch.setattr(services, "_claims_in_one_statement", lambda: one_statement)
    job = _enqueue()
    done = services.job_run(job_id=job.pk)
    assert done is not None and done.status == JobStatus.SUCCEEDED
    job.refresh_from_db()
    assert (job.status, job.attempts, job.lease_expires_at) == (JobStatus.SUCCEEDED, 1, None)
    assert job.provider_reference and job.finished_at is not None
    assert job.payload["to"] != "ana@example.com"  # redacted once succeeded
    assert Attempt.objects.filter(job=job).count() == 1
    assert _actions(job) == ["integration.intent", "integration.result"]
    assert services.job_run(job_id=job.pk) is None  # not due any more: left alone


@pytest.mark.postgres
def test_the_one_statement_claim_assigns_what_the_start_transition_assigns() -> None:
    job = _enqueue()
    now = timezone.now()
    lease_until = now + timedelta(seconds=30)
    expected = Job.objects.get(pk=job.pk)
    expected.start(lease_until=lease_until)
    claimed, previous = services._claim_row(job.pk, now, lease_until)
    assert claimed is not None
    assert previous == (JobStatus.PENDING, 0, job.lease_expires_at)
    stored = Job.objects.get(pk=job.pk)
    for f in Job._meta.concrete_fields:
        if f.attname == "updated_at":
            continue
        assert getattr(claimed, f.attname) == getattr(expected, f.attname), f.attname
        assert getattr(stored, f.attname) == getattr(expected, f.attname), f.attname
    # claimed: not due again, and never twice
    assert services._claim_row(job.pk, now, lease_until) == (None, None)


@pytest.mark.postgres
def test_a_stale_settle_writes_nothing(provider: FakeProvider) -> None:
    """The lease expired and another worker re-claimed the job: the first worker's result
    is dropped (guarded UPDATE matches nothing: no attempt row, no audit, no transition)."""
    job = _enqueue()
    first = services._claim(job.pk)
    assert first is not None and first.job is not None
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RETRY_SCHEDULED, lease_expires_at=None, next_attempt_at=timezone.now()
    )
    second = services._claim(job.pk)
    assert second is not None and second.attempt == 2
    result = services._execute(first)
    assert services._settle(first, result) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 2)
    assert Attempt.objects.filter(job=job).count() == 0
    assert _actions(job) == ["integration.intent"]
    assert services._settle(second, services._execute(second)) is not None
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and Attempt.objects.filter(job=job).count() == 1


@pytest.mark.postgres
def test_an_open_circuit_undoes_the_one_statement_claim(
    provider: FakeProvider, memory_breaker: Any
) -> None:
    from integrations import breaker

    job = _enqueue()
    for _ in range(3):
        breaker.record_failure(KIND, probe=False)
    assert services.job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == JobStatus.RETRY_SCHEDULED
    assert job.attempts == 0  # the call never happened
    assert job.lease_expires_at is None and job.last_error_code == "CIRCUIT_OPEN"
    assert provider.calls == []


def test_enqueue_query_budget(django_assert_max_num_queries: Any) -> None:
    # INSERT ... ON CONFLICT DO NOTHING RETURNING + intent audit, and the savepoint pair
    with django_assert_max_num_queries(4):
        _enqueue()
    # the same request again: the insert that conflicts + one read (the rare path)
    with django_assert_max_num_queries(4):
        _enqueue()


def test_dispatch_due_query_budget(
    provider: FakeProvider, django_assert_max_num_queries: Any
) -> None:
    for i in range(5):
        _enqueue(key=f"k-{i}")
    with django_assert_max_num_queries(5):
        report = services.jobs_dispatch_due()
    assert len(report.dispatched) == 5


def test_the_claim_writes_every_field_the_start_transition_assigns() -> None:
    """The claim saves only ``services._START_FIELDS`` (not the payload): a field ``start``
    assigns outside that list would silently not be stored."""
    job = _enqueue()
    before = {f.attname: getattr(job, f.attname) for f in Job._meta.concrete_fields}
    job.start(lease_until=timezone.now())
    changed = {name for name, value in before.items() if getattr(job, name) != value}
    assert changed <= set(services._START_FIELDS)
    assert {"status", "attempts", "lease_expires_at"} <= changed
