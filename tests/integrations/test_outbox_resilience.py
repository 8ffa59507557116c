"""Acceptance: provider down, worker killed mid-job, broker down at commit, SKIP LOCKED."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit.models import Event
from aventide.accounts.contracts import use_case
from aventide.core.metrics import count_of
from aventide.core.principal import SYSTEM
from integrations import breaker, services, tasks
from integrations.models import Job, JobStatus
from tests.concurrency import waiting_on_locks
from tests.integrations.conftest import KIND, FakeProvider, make_due


def _enqueue(key: str) -> Job:
    return services.enqueue(
        kind=KIND,
        operation="email.send",
        payload={"template": "invite", "orderId": 1},
        idempotency_key=key,
        country_code="AR",
    )


def _dispatch(capture: Any) -> None:
    with capture(execute=True):
        services.jobs_dispatch_due()


class _Clock:
    """The breaker's clock, moved by the test: a loaded machine cannot turn the cool-down
    (0.3 s here) into a half-open probe in the middle of the test's "while open" step."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.mark.django_db
def test_provider_down_circuit_opens_probes_and_every_job_succeeds_once(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    clock = _Clock()
    monkeypatch.setattr(breaker, "time", clock)
    provider.mode = "transient"  # the provider is down: 100% 5xx
    keys = [f"down-{i}" for i in range(6)]
    with django_capture_on_commit_callbacks(execute=True):
        for key in keys:
            _enqueue(key)
    # threshold = 3: three calls failed, then the circuit opened and the rest never called
    assert provider.calls == keys[:3]
    assert breaker.state(KIND) == breaker.CircuitState.OPEN
    held = Job.objects.filter(last_error_code="CIRCUIT_OPEN")
    assert sorted(held.values_list("idempotency_key", flat=True)) == keys[3:]
    assert set(held.values_list("attempts", flat=True)) == {0}  # not an attempt

    # While open, the dispatcher hands jobs over but none reaches the provider.
    make_due()
    _dispatch(django_capture_on_commit_callbacks)
    assert len(provider.calls) == 3
    assert Job.objects.filter(status=JobStatus.RETRY_SCHEDULED).count() == 6

    # The provider recovers; after the cool-down one probe closes the circuit.
    provider.mode = "ok"
    clock.now += 0.35
    assert breaker.state(KIND) == breaker.CircuitState.HALF_OPEN
    for _ in range(5):
        make_due()
        _dispatch(django_capture_on_commit_callbacks)
        if Job.objects.filter(status=JobStatus.SUCCEEDED).count() == len(keys):
            break
    assert breaker.state(KIND) == breaker.CircuitState.CLOSED
    assert Job.objects.filter(status=JobStatus.SUCCEEDED).count() == len(keys)
    assert dict(provider.effects) == dict.fromkeys(keys, 1)  # exactly once each
    assert Event.objects.filter(action="integration.result").count() == len(keys)


@pytest.mark.django_db
def test_broker_down_at_commit_job_stays_pending_and_dispatch_due_completes_it(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    class DownBroker:
        @staticmethod
        def delay(job_id: int) -> None:
            raise OperationalError("Error 111 connecting to broker")

    failed_before = count_of("METRIC_INTEGRATION_PUBLISH_FAILED", error="OperationalError")
    monkeypatch.setattr(tasks, "run_job", DownBroker)
    with django_capture_on_commit_callbacks(execute=True):
        job = _enqueue("broker-down")  # the caller's commit is not affected
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert provider.calls == []
    assert count_of("METRIC_INTEGRATION_PUBLISH_FAILED", error="OperationalError") == (
        failed_before + 1
    )
    monkeypatch.undo()  # the broker is back
    _dispatch(django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert provider.calls == ["broker-down"]


@pytest.mark.django_db
def test_dispatch_due_hands_a_job_over_once_per_grace(
    provider: FakeProvider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "publish", lambda ids: None)
    job = _enqueue("grace")
    assert services.jobs_dispatch_due().dispatched == [job.pk]
    assert services.jobs_dispatch_due().dispatched == []  # already handed over
    later = timezone.now() + timedelta(seconds=61)
    assert services.jobs_dispatch_due(now=later).dispatched == [job.pk]


@pytest.mark.django_db(transaction=True)
def test_embedded_mode_runs_the_job_in_process_after_commit(provider: FakeProvider) -> None:
    with use_case(SYSTEM):
        job = _enqueue("embedded")
        assert provider.calls == []  # not before commit
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert provider.calls == ["embedded"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_job_is_redispatched_with_the_same_key_one_effect(
    provider: FakeProvider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "publish", lambda ids: None)  # the message was lost
    job = _enqueue("killed")
    claim = services._claim(job.pk)
    assert claim is not None
    provider.execute(claim.call)  # the provider did it ... and the worker died
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    monkeypatch.undo()

    report = services.jobs_dispatch_due()  # eager: runs after the dispatcher commits

    assert report.requeued == 1 and report.dispatched == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 2
    assert provider.calls == ["killed", "killed"]  # the same idempotency key
    assert provider.effects["killed"] == 1  # one effect


@contextmanager
def _locked_elsewhere(job_id: int) -> Iterator[None]:
    """Another worker holds ``job_id`` FOR UPDATE (own thread, own connection)."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Job.objects.select_for_update().filter(pk=job_id))
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dispatch_due_and_job_run_skip_rows_locked_by_another_worker(
    provider: FakeProvider, monkeypatch: Any
) -> None:
    handed: list[int] = []
    monkeypatch.setattr(services, "publish", lambda ids: handed.extend(ids))
    busy, free = _enqueue("busy"), _enqueue("free")
    handed.clear()
    with _locked_elsewhere(busy.pk):
        report = services.jobs_dispatch_due()  # does not wait for the locked row
        assert report.dispatched == [free.pk]
        assert services.job_run(job_id=busy.pk) is None  # nor does the worker
    assert handed == [free.pk]
    assert provider.calls == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_enqueue_concurrent_same_key_yields_one_job(
    provider: FakeProvider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(services, "publish", lambda ids: None)
    inserted, results, errors = threading.Event(), {}, []

    def first() -> None:
        try:
            with use_case(SYSTEM):
                results["first"] = _enqueue("race").pk
                inserted.set()
                deadline = time.monotonic() + 30
                while waiting_on_locks() == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)  # until the second enqueue waits on our insert
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            assert inserted.wait(30)
            results["second"] = _enqueue("race").pk
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert results["first"] == results["second"]
    assert Job.objects.count() == 1
    assert Event.objects.filter(action="integration.intent").count() == 1
