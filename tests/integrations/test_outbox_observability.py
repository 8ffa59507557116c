"""Backlog, DLQ and circuit gauges and their alerts (thresholds from settings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from aventide.core.metrics import REGISTRY
from integrations import breaker, observability, services
from integrations.models import Job
from tests.integrations.conftest import KIND, FakeProvider

pytestmark = pytest.mark.django_db


def _enqueue(key: str) -> Job:
    return services.enqueue(
        kind=KIND, operation="email.send", payload={}, idempotency_key=key, country_code="AR"
    )


def _gauge(name: str, provider: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"provider": provider})


def test_report_backlog_alert_after_threshold_and_wait(
    settings: Any, monkeypatch: Any, json_logs: Any, django_assert_max_num_queries: Any
) -> None:
    settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD = 2
    settings.INTEGRATIONS_BACKLOG_ALERT_SECONDS = 900
    monkeypatch.setattr(services, "publish", lambda ids: None)  # no worker
    for i in range(3):
        _enqueue(f"b-{i}")
    report = observability.report()
    assert report.backlog == {KIND: 3}
    assert report.alerts == []  # not waiting long enough yet
    assert _gauge("aventide_integration_backlog", KIND) == 3
    Job.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=16))
    with django_assert_max_num_queries(3):
        report = observability.report()
    assert report.alerts == ["ALERT_INTEGRATION_BACKLOG"]
    assert json_logs.events("ALERT_INTEGRATION_BACKLOG")[0]["pending"] == 3


def test_report_dlq_growing_and_gauge(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    provider.mode = "permanent"
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("dead-1")
    report = observability.report()
    assert report.dlq == {KIND: 1}
    assert "ALERT_INTEGRATION_DLQ_GROWING" in report.alerts
    assert _gauge("aventide_integration_dlq", KIND) == 1


def test_report_circuit_open_too_long(settings: Any, json_logs: Any) -> None:
    settings.INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS = 300
    for _ in range(3):
        breaker.record_failure("payments")
    assert observability.report().circuits["payments"] == "open"
    assert "ALERT_INTEGRATION_CIRCUIT_OPEN" not in observability.report().alerts
    assert _gauge("aventide_integration_circuit_open", "payments") == 1
    settings.INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS = 0
    assert "ALERT_INTEGRATION_CIRCUIT_OPEN" in observability.report().alerts
    assert json_logs.events("ALERT_INTEGRATION_CIRCUIT_OPEN")[0]["provider"] == "payments"
    breaker.record_success("payments", probe=True)
    assert breaker.open_seconds("payments") == 0.0
