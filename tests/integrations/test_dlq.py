"""The DLQ: a job failing max_attempts times lands there (metric + alert); replay and
discard are audited, scoped and limited to ops leads and L3; the command and the admin."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from audit.models import Event
from aventide.accounts.contracts import principal_for_user
from aventide.core.errors import DomainError
from aventide.core.metrics import count_of
from aventide.core.principal import SYSTEM, Principal
from integrations import selectors, services
from integrations.errors import DiscardReasonRequired, DlqActionForbidden, JobNotInDlq
from integrations.models import Attempt, Job, JobStatus
from tests.accounts.factories import make_staff
from tests.integrations.conftest import KIND, FakeProvider, make_due

pytestmark = pytest.mark.django_db


def _staff(level: str = "L3", countries: tuple[str, ...] = ("AR",), **kw: Any) -> Principal:
    return principal_for_user(make_staff(level=level, countries=countries, **kw))


def _dead_job(provider: FakeProvider, capture: Any, key: str = "dlq-1", country: str = "AR") -> Job:
    """A job that failed transiently max_attempts (4) times, reached through the services."""
    provider.mode = "transient"
    with capture(execute=True):
        job = services.enqueue(
            kind=KIND,
            operation="email.send",
            payload={"template": "invite"},
            idempotency_key=key,
            country_code=country,
        )
    for _ in range(job.max_attempts - 1):
        make_due()
        with capture(execute=True):
            services.jobs_dispatch_due()
    job.refresh_from_db()
    return job


@pytest.fixture(autouse=True)
def _no_breaker(settings: Any) -> None:
    settings.INTEGRATIONS_BREAKER_FAILURES = 1000  # these tests are about the DLQ


def test_job_failing_max_attempts_lands_in_dlq_with_metric_and_alert(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    before = count_of("METRIC_INTEGRATION_DLQ", provider=KIND, code="PROVIDER_UNAVAILABLE")
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    assert job.status == JobStatus.DEAD
    assert job.attempts == job.max_attempts == 4
    assert Attempt.objects.filter(job=job, outcome="transient").count() == 4
    assert provider.calls == ["dlq-1"] * 4
    assert count_of("METRIC_INTEGRATION_DLQ", provider=KIND, code="PROVIDER_UNAVAILABLE") == (
        before + 1
    )
    assert [a["jobId"] for a in json_logs.events("ALERT_INTEGRATION_DLQ")] == [job.pk]
    assert list(selectors.dlq_for(SYSTEM)) == [job]
    assert selectors.dlq_size_by_kind() == {KIND: 1}


def test_job_replay_succeeds_once_provider_is_back_and_is_audited(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    lead = _staff(level="L2", ops_lead=True)
    provider.mode = "ok"
    with django_capture_on_commit_callbacks(execute=True):
        replayed = services.job_replay(actor=lead, job_id=job.pk)
    assert replayed.idempotency_key == "dlq-1"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1  # reset by the replay
    assert provider.effects["dlq-1"] == 1
    event = Event.objects.get(action="integration.dlq_replayed", target_id=str(job.pk))
    assert event.actor_id == lead.id
    assert event.country_code == "AR"
    assert event.data["attempts"] == 4
    assert event.data["errorCode"] == "PROVIDER_UNAVAILABLE"
    results = Event.objects.filter(action="integration.result", target_id=str(job.pk))
    assert [e.data["status"] for e in results.order_by("id")] == ["dead", "succeeded"]


def test_job_discard_needs_a_reason_and_is_audited(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    l3 = _staff()
    with pytest.raises(DiscardReasonRequired):
        services.job_discard(actor=l3, job_id=job.pk, reason="  ")
    services.job_discard(actor=l3, job_id=job.pk, reason="customer cancelled, see OPS-12")
    job.refresh_from_db()
    assert job.status == JobStatus.DISCARDED
    assert job.discard_reason == "customer cancelled, see OPS-12"
    event = Event.objects.get(action="integration.dlq_discarded", target_id=str(job.pk))
    assert event.data["reason"] == "customer cancelled, see OPS-12"
    assert event.actor_id == l3.id
    with pytest.raises(JobNotInDlq):
        services.job_replay(actor=l3, job_id=job.pk)


def test_job_replay_refuses_l1_and_other_countries(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    with pytest.raises(DlqActionForbidden):
        services.job_replay(actor=_staff(level="L1"), job_id=job.pk)
    with pytest.raises(DomainError) as exc:
        services.job_replay(actor=_staff(countries=("MX",)), job_id=job.pk)
    assert exc.value.code == "SCOPE_VIOLATION"
    job.refresh_from_db()
    assert job.status == JobStatus.DEAD
    assert not Event.objects.filter(action="integration.dlq_replayed").exists()


def test_dlq_for_staff_sees_only_their_countries(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    ar = _dead_job(provider, django_capture_on_commit_callbacks, key="ar")
    _dead_job(provider, django_capture_on_commit_callbacks, key="mx", country="MX")
    assert list(selectors.dlq_for(_staff(countries=("AR",)))) == [ar]


def test_command_dlq_list_replay_discard(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    one = _dead_job(provider, django_capture_on_commit_callbacks, key="c-1")
    two = _dead_job(provider, django_capture_on_commit_callbacks, key="c-2", country="MX")
    out = io.StringIO()
    call_command("integrations", "dlq", "list", "--country", "MX", stdout=out)
    assert "c-2" in out.getvalue() and "c-1" not in out.getvalue()
    assert "1 dead job(s)" in out.getvalue()

    with pytest.raises(CommandError):
        call_command("integrations", "dlq", "discard", "--id", str(two.pk))  # no --reason

    provider.mode = "ok"
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "integrations", "dlq", "replay", "--kind", KIND, "--id", str(one.pk), stdout=out
        )
    assert "... 1/1 replayed=1 failed=0" in out.getvalue()
    one.refresh_from_db()
    assert one.status == JobStatus.SUCCEEDED

    out = io.StringIO()
    call_command(
        "integrations", "dlq", "discard", "--id", str(two.pk), "--reason", "duplicate", stdout=out
    )
    assert "1 job(s) discarded" in out.getvalue()
    two.refresh_from_db()
    assert two.status == JobStatus.DISCARDED
    system_events = Event.objects.filter(action__startswith="integration.dlq_", actor_id="system")
    assert system_events.count() == 2


def test_admin_discard_action_calls_the_service_with_the_reason(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    user = make_staff(level="L3", countries=("AR",))
    client = Client()
    client.force_login(user)
    url = reverse("admin:integrations_job_changelist")
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"action": "discard_jobs", "_selected_action": [job.pk], "reason": ""}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.DEAD  # no reason, nothing discarded
    client.post(url, {"action": "discard_jobs", "_selected_action": [job.pk], "reason": "dup"})
    job.refresh_from_db()
    assert job.status == JobStatus.DISCARDED
    assert Event.objects.filter(action="integration.dlq_discarded").count() == 1


def test_admin_offers_dlq_actions_only_to_ops_leads_and_l3(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    job = _dead_job(provider, django_capture_on_commit_callbacks)
    url = reverse("admin:integrations_job_changelist")
    l3, lead = Client(), Client()
    l3.force_login(make_staff(level="L3", countries=("AR",)))
    lead.force_login(make_staff(level="L1", countries=("AR",), ops_lead=True))
    for client in (l3, lead):
        page = client.get(url).content.decode()
        assert "replay_jobs" in page and "discard_jobs" in page
    detail = l3.get(reverse("admin:integrations_job_change", args=[job.pk])).content.decode()
    assert "payload (redacted)" in detail.lower()
    l1 = Client()
    l1.force_login(make_staff(level="L1", countries=("AR",)))
    assert l1.get(url).status_code == 403  # no grant to the outbox at all
