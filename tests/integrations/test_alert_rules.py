"""The hub's alert rules, evaluated by ops: each fires only after its `for` duration and
resolves when its condition clears. States are reached through the outbox services; the
clock is the ``now`` each evaluation gets (no sleeps); the circuit rule reads the breaker's
real Redis storage too."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from aventide.ops import services as ops
from aventide.ops.alerts import alert_rule, only_rules, registered_alert_rules
from aventide.ops.models import Alert
from integrations import alerts, breaker, selectors, services
from integrations.models import Job, JobStatus
from tests.integrations.conftest import KIND, FakeProvider

pytestmark = pytest.mark.django_db


def _rules(*names: str) -> Any:
    return only_rules(*(r for name in names if (r := alert_rule(name)) is not None))


def _alerts(name: str) -> list[Alert]:
    return list(Alert.objects.filter(rule=name).order_by("id"))


def _enqueue(key: str) -> Job:
    return services.enqueue(
        kind=KIND, operation="email.send", payload={}, idempotency_key=key, country_code="AR"
    )


def test_integrations_registers_its_three_rules_with_ops() -> None:
    rules = registered_alert_rules()
    assert {alerts.DLQ_GROWING, alerts.CIRCUIT_OPEN, alerts.BACKLOG} <= set(rules)
    assert rules[alerts.BACKLOG].for_duration() == timedelta(minutes=15)
    assert rules[alerts.CIRCUIT_OPEN].for_duration() == timedelta(minutes=5)
    assert rules[alerts.DLQ_GROWING].for_duration() == timedelta(0)
    assert rules[alerts.BACKLOG].severity == "SEV2"


# --- pending backlog > 1,000 for 15 min ----------------------------------------------------


def test_backlog_rule_fires_after_15_minutes_over_the_threshold_and_resolves(
    settings: Any, monkeypatch: Any, provider: FakeProvider, json_logs: Any
) -> None:
    settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD = 2  # 1,000 in production
    monkeypatch.setattr(services, "publish", lambda ids: None)  # no worker: jobs stay due
    jobs = [_enqueue(f"backlog-{i}") for i in range(3)]
    t0 = timezone.now()
    with _rules(alerts.BACKLOG):
        ops.alerts_evaluate(now=t0)
        (alert,) = _alerts(alerts.BACKLOG)
        assert (alert.state, alert.last_value, alert.labels) == ("pending", 3, {})
        ops.alerts_evaluate(now=t0 + timedelta(minutes=14))
        assert _alerts(alerts.BACKLOG)[0].state == "pending"
        ops.alerts_evaluate(now=t0 + timedelta(minutes=15))
        assert _alerts(alerts.BACKLOG)[0].state == "firing"
        for job in jobs:  # the workers catch up
            services.job_run(job_id=job.pk)
        assert selectors.due_backlog(now=t0 + timedelta(minutes=16)) == 0
        ops.alerts_evaluate(now=t0 + timedelta(minutes=16))
    (alert,) = _alerts(alerts.BACKLOG)
    assert (alert.state, alert.last_value) == ("resolved", 0)
    (firing,) = json_logs.events("alert.firing")
    assert (firing["rule"], firing["value"]) == (alerts.BACKLOG, 3)
    assert firing["runbook"] == "docs/operations/alerts.md#alert_integration_backlog"
    assert len(json_logs.events("alert.resolved")) == 1


def test_backlog_rule_a_dip_under_the_threshold_restarts_the_15_minutes(
    settings: Any, monkeypatch: Any, provider: FakeProvider
) -> None:
    settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD = 2
    monkeypatch.setattr(services, "publish", lambda ids: None)
    jobs = [_enqueue(f"dip-{i}") for i in range(3)]
    t0 = timezone.now()
    with _rules(alerts.BACKLOG):
        ops.alerts_evaluate(now=t0)
        services.job_run(job_id=jobs[0].pk)  # 2 left: not over the threshold
        ops.alerts_evaluate(now=t0 + timedelta(minutes=10))
        _enqueue("dip-3")
        ops.alerts_evaluate(now=t0 + timedelta(minutes=11))
        ops.alerts_evaluate(now=t0 + timedelta(minutes=20))  # 9 min over: not yet
        assert [a.state for a in _alerts(alerts.BACKLOG)] == ["resolved", "pending"]
        ops.alerts_evaluate(now=t0 + timedelta(minutes=26))
    assert [a.state for a in _alerts(alerts.BACKLOG)] == ["resolved", "firing"]
    assert _alerts(alerts.BACKLOG)[0].fired_at is None


def test_backlog_rule_counts_only_due_jobs(settings: Any, monkeypatch: Any) -> None:
    settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD = 0
    monkeypatch.setattr(services, "publish", lambda ids: None)
    _enqueue("later")
    Job.objects.update(next_attempt_at=timezone.now() + timedelta(hours=1))  # backing off
    with _rules(alerts.BACKLOG):
        report = ops.alerts_evaluate(now=timezone.now())
    assert report.changes == []
    assert _alerts(alerts.BACKLOG) == []


# --- DLQ growing ---------------------------------------------------------------------------


def test_dlq_growing_rule_fires_when_jobs_enter_the_dlq_and_resolves_after_the_window(
    settings: Any, provider: FakeProvider, django_capture_on_commit_callbacks: Any, json_logs: Any
) -> None:
    settings.INTEGRATIONS_DLQ_GROWING_WINDOW_SECONDS = 300
    provider.mode = "permanent"
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("dead-1")
    with django_capture_on_commit_callbacks(execute=True):
        _enqueue("dead-2")
    assert Job.objects.filter(status=JobStatus.DEAD).count() == 2
    t0 = timezone.now()
    with _rules(alerts.DLQ_GROWING):
        report = ops.alerts_evaluate(now=t0)
        assert [c.state for c in report.changes] == ["pending", "firing"]  # `for` is 0
        (alert,) = _alerts(alerts.DLQ_GROWING)
        assert alert.last_value == 2  # the DLQ size
        assert alert.detail == "2 job(s) entered the DLQ in the last 300 s; 2 dead"
        ops.alerts_evaluate(now=t0 + timedelta(minutes=4))
        assert _alerts(alerts.DLQ_GROWING)[0].state == "firing"
        ops.alerts_evaluate(now=t0 + timedelta(minutes=6))  # a whole window without new ones
    (alert,) = _alerts(alerts.DLQ_GROWING)
    assert (alert.state, alert.last_value) == ("resolved", 2)  # still dead: not growing
    assert [line["rule"] for line in json_logs.events("alert.firing")] == [alerts.DLQ_GROWING]


def test_dlq_growing_rule_quiet_without_new_dead_jobs() -> None:
    with _rules(alerts.DLQ_GROWING):
        report = ops.alerts_evaluate(now=timezone.now())
    assert report.evaluated == [alerts.DLQ_GROWING]
    assert report.changes == []


# --- a circuit open > 5 min ----------------------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def circuit_store(request: Any, settings: Any) -> Iterator[breaker.Storage]:
    """The breaker's storage: in memory, and the real shared Redis one."""
    if request.param == "memory":
        store: breaker.Storage = breaker.MemoryStorage()
    else:
        if not django_settings.REDIS_URL:
            pytest.skip("needs Redis")
        store = breaker.RedisStorage(django_settings.REDIS_URL, f"test:{uuid.uuid4().hex}")
    breaker.use_storage(store)
    yield store
    breaker.use_storage(None)


def test_circuit_open_rule_fires_5_minutes_after_the_circuit_opened_and_resolves(
    circuit_store: breaker.Storage, json_logs: Any
) -> None:
    for _ in range(3):  # the conftest's threshold
        breaker.record_failure("payments")
    opened = datetime.fromtimestamp(circuit_store.opened_at("payments"), tz=UTC)
    assert selectors.circuits_open_since(["payments", "email"]) == {
        "payments": opened,
        "email": None,
    }
    with _rules(alerts.CIRCUIT_OPEN):
        ops.alerts_evaluate(now=opened + timedelta(minutes=1))
        (alert,) = _alerts(alerts.CIRCUIT_OPEN)  # only the open circuit has an alert
        assert (alert.state, alert.labels, alert.started_at) == (
            "pending",
            {"provider": "payments"},
            opened,
        )
        ops.alerts_evaluate(now=opened + timedelta(minutes=4, seconds=59))
        assert _alerts(alerts.CIRCUIT_OPEN)[0].state == "pending"
        ops.alerts_evaluate(now=opened + timedelta(minutes=5))
        (alert,) = _alerts(alerts.CIRCUIT_OPEN)
        assert (alert.state, alert.last_value) == ("firing", 300)
        breaker.record_success("payments", probe=True)  # the probe got through: closed
        ops.alerts_evaluate(now=opened + timedelta(minutes=6))
    (alert,) = _alerts(alerts.CIRCUIT_OPEN)
    assert alert.state == "resolved"
    (firing,) = json_logs.events("alert.firing")
    assert firing["labels"] == {"provider": "payments"}


def test_circuit_open_rule_counts_from_the_first_opening_across_failed_probes(
    circuit_store: breaker.Storage,
) -> None:
    for _ in range(3):
        breaker.record_failure("sms")
    opened = datetime.fromtimestamp(circuit_store.opened_at("sms"), tz=UTC)
    breaker.record_failure("sms", probe=True, now=time.time() + 60)  # re-opened by a probe
    with _rules(alerts.CIRCUIT_OPEN):
        ops.alerts_evaluate(now=opened + timedelta(minutes=5, seconds=1))
    (alert,) = _alerts(alerts.CIRCUIT_OPEN)
    assert (alert.state, alert.labels) == ("firing", {"provider": "sms"})
