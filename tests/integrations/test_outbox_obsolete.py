"""A job whose work no longer applies (the adapter or renderer raises ``JobObsolete``: the
target is gone, it expired, the feature is off) ends ``discarded`` at once: never retried,
not in the DLQ, no DLQ alert; the result is audited and its listeners hear it."""

from __future__ import annotations

from typing import Any

import pytest

from audit.models import Event
from aventide.core.principal import SYSTEM
from integrations import hooks, selectors, services
from integrations.contracts import JobObsolete, JobOutcome, register_result_listener
from integrations.errors import JobNotInDlq
from integrations.models import Job, JobStatus
from integrations.providers import registry
from integrations.providers.base import Call, Outcome
from tests.integrations.conftest import KIND, FakeProvider

pytestmark = pytest.mark.django_db


class GoneProvider(FakeProvider):
    def execute(self, call: Call) -> Outcome:
        self.calls.append(call.idempotency_key)
        raise JobObsolete("the target is gone", status_code=410, code="TARGET_GONE")


def test_job_obsolete_is_discarded_without_the_dlq_or_its_alert(
    django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    heard: list[JobOutcome] = []
    register_result_listener(KIND, "email.send", heard.append)
    provider = GoneProvider()
    try:
        with (
            registry.override(KIND, provider),
            django_capture_on_commit_callbacks(execute=True),
        ):
            job = services.enqueue(
                kind=KIND,
                operation="email.send",
                payload={"to": "ana@example.com", "subject": "s", "body": "b"},
                idempotency_key="obsolete-1",
                country_code="AR",
            )
    finally:
        hooks._LISTENERS[(KIND, "email.send")].remove(heard.append)
    job = Job.objects.get(pk=job.pk)
    assert (job.status, job.attempts, job.last_error_code) == (
        JobStatus.DISCARDED,
        1,
        "TARGET_GONE",
    )
    assert job.discard_reason == "obsolete: TARGET_GONE"
    assert "ana@example.com" not in str(job.payload)  # redacted once the job is closed
    assert selectors.dlq_size() == 0
    assert json_logs.events("ALERT_INTEGRATION_DLQ") == []
    assert [(o.status, o.error_code, o.permanent) for o in heard] == [
        ("discarded", "TARGET_GONE", True)
    ]
    result = Event.objects.get(action="integration.result", target_id=str(job.pk))
    assert result.data["status"] == "discarded"
    assert provider.calls == ["obsolete-1"]
    with pytest.raises(JobNotInDlq):
        services.job_replay(actor=SYSTEM, job_id=job.pk)
