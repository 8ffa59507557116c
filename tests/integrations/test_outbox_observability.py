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


def test_report_backlog_gauge_and_metric_without_alert_lines(
    monkeypatch: Any, json_logs: Any, django_assert_max_num_queries: Any
) -> None:
    monkeypatch.setattr(services, "publish", lambda ids: None)  # no worker
    for i in range(3):
        _enqueue(f"b-{i}")
    with django_assert_max_num_queries(2):
        report = observability.report()
    assert report.backlog == {KIND: 3}
    assert _gauge("aventide_integration_backlog", KIND) == 3
    assert json_logs.events("METRIC_INTEGRATION_BACKLOG")[0]["pending"] == 3
    # alerting is the ops rules' job (integrations/alerts.py): no stateless alert line here
    assert not [line for line in json_logs.lines if str(line["event"]).startswith("ALERT_")]


def test_report_dlq_gauge(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    provider.mode = "permanent"
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("dead-1")
    report = observability.report()
    assert report.dlq == {KIND: 1}
    assert _gauge("aventide_integration_dlq", KIND) == 1
    assert json_logs.events("METRIC_INTEGRATION_DLQ_SIZE")[0]["dead"] == 1
    assert json_logs.events("ALERT_INTEGRATION_DLQ")[0]["jobId"]  # the worker's, at once


def test_report_circuit_gauges(settings: Any) -> None:
    for _ in range(3):
        breaker.record_failure("payments")
    later = timezone.now() + timedelta(minutes=2)
    assert observability.report(now=later).circuits["payments"] == "open"
    assert _gauge("aventide_integration_circuit_open", "payments") == 1
    assert (_gauge("aventide_integration_circuit_open_seconds", "payments") or 0) >= 120
    breaker.record_success("payments", probe=True)
    assert observability.report().circuits["payments"] == "closed"
    assert _gauge("aventide_integration_circuit_open", "payments") == 0
    assert _gauge("aventide_integration_circuit_open_seconds", "payments") == 0
    assert breaker.open_seconds("payments") == 0.0


def test_call_latency_is_observed_per_provider(
    provider: FakeProvider, django_capture_on_commit_callbacks: Any
) -> None:
    def calls(outcome: str) -> float:
        labels = {"provider": KIND, "outcome": outcome}
        return (
            REGISTRY.get_sample_value("aventide_integration_call_duration_seconds_count", labels)
            or 0
        )

    ok, failed = calls("succeeded"), calls("permanent")
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("latency-ok")
    provider.mode = "permanent"
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("latency-refused")
    assert (calls("succeeded"), calls("permanent")) == (ok + 1, failed + 1)
