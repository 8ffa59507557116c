"""The alert-rule registry and its evaluation: pending -> firing after `for` -> resolved.

The clock is the ``now`` each evaluation is given (no sleeps); rules are the controllable
``Knob`` rules of ``alert_helpers``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from aventide.core.metrics import REGISTRY, count_of
from aventide.ops import services, tasks
from aventide.ops.alerts import (
    Reading,
    Severity,
    labels_key,
    only_rules,
    register_alert_rule,
    registered_alert_rules,
)
from aventide.ops.models import Alert, AlertState
from tests.ops.alert_helpers import Knob, rule

pytestmark = pytest.mark.django_db

NAME = "ALERT_TEST_QUEUE"


def _alerts(name: str = NAME) -> list[Alert]:
    return list(Alert.objects.filter(rule=name).order_by("id"))


def _metric(state: str, name: str = NAME) -> float:
    return count_of("METRIC_OPS_ALERT", rule=name, state=state)


def test_alerts_evaluate_fires_only_after_the_for_duration_and_resolves(json_logs: Any) -> None:
    knob = Knob(threshold=1000)
    t0 = timezone.now()
    fired_before = _metric("firing")
    with only_rules(rule(NAME, knob, for_seconds=900)):
        knob.set(1500)
        report = services.alerts_evaluate(now=t0)
        assert [c.state for c in report.changes] == ["pending"]
        (alert,) = _alerts()
        assert (alert.state, alert.started_at, alert.last_value) == ("pending", t0, 1500)
        assert alert.severity == "SEV2"

        services.alerts_evaluate(now=t0 + timedelta(minutes=14, seconds=59))
        assert _alerts()[0].state == "pending"
        assert json_logs.events("alert.firing") == []

        knob.set(1600)
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=15))
        assert [c.state for c in report.changes] == ["firing"]
        (alert,) = _alerts()
        assert alert.state == "firing"
        assert alert.fired_at == t0 + timedelta(minutes=15)
        assert alert.last_value == 1600
        assert report.firing == 1

        # still true: no second firing, no new row
        assert services.alerts_evaluate(now=t0 + timedelta(minutes=16)).changes == []
        assert len(_alerts()) == 1

        knob.set(10)
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=20))
        assert [c.state for c in report.changes] == ["resolved"]
        (alert,) = _alerts()
        assert alert.state == "resolved"
        assert alert.resolved_at == t0 + timedelta(minutes=20)
        assert alert.last_value == 10
    (firing,) = json_logs.events("alert.firing")
    assert firing["level"] == "error"
    assert firing["rule"] == NAME
    assert firing["severity"] == "SEV2"
    assert firing["value"] == 1600
    assert firing["runbook"] == "docs/operations/alerts.md#alert_test_queue"
    (resolved,) = json_logs.events("alert.resolved")
    assert resolved["level"] == "error"
    assert resolved["alertId"] == alert.pk
    assert _metric("firing") == fired_before + 1


def test_alerts_evaluate_a_pending_alert_that_clears_resolves_without_paging(
    json_logs: Any,
) -> None:
    knob = Knob()
    t0 = timezone.now()
    with only_rules(rule(NAME, knob, for_seconds=300)):
        knob.set(50)
        services.alerts_evaluate(now=t0)
        knob.set(5)
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=4))
    assert [c.state for c in report.changes] == ["resolved"]
    (alert,) = _alerts()
    assert alert.state == "resolved"
    assert alert.fired_at is None
    assert json_logs.events("alert.firing") == []
    assert json_logs.events("alert.resolved") == []
    assert len(json_logs.events("alert.cleared_before_firing")) == 1


def test_alerts_evaluate_a_new_episode_opens_a_new_alert(json_logs: Any) -> None:
    knob = Knob()
    t0 = timezone.now()
    with only_rules(rule(NAME, knob, for_seconds=0)):
        for minute, value in enumerate([50, 5, 60]):
            knob.set(value)
            services.alerts_evaluate(now=t0 + timedelta(minutes=minute))
    assert [a.state for a in _alerts()] == ["resolved", "firing"]
    assert len(json_logs.events("alert.firing")) == 2


def test_alerts_evaluate_for_counts_from_the_readings_since() -> None:
    knob = Knob()
    t0 = timezone.now()
    knob.since = t0 - timedelta(minutes=4)
    with only_rules(rule(NAME, knob, for_seconds=300)):
        knob.set(50)
        services.alerts_evaluate(now=t0)
        assert _alerts()[0].state == "pending"
        assert _alerts()[0].started_at == t0 - timedelta(minutes=4)
        services.alerts_evaluate(now=t0 + timedelta(minutes=1))
    assert _alerts()[0].state == "firing"


def test_alerts_evaluate_keeps_one_alert_per_label_set() -> None:
    knob = Knob()
    t0 = timezone.now()
    with only_rules(rule(NAME, knob, for_seconds=0)):
        knob.drop("")
        knob.set(50, series="a", labels={"provider": "payments"})
        knob.set(50, series="b", labels={"provider": "email"})
        services.alerts_evaluate(now=t0)
        assert sorted(a.labels_key for a in _alerts()) == ["provider=email", "provider=payments"]
        # email recovers; payments is no longer reported at all (a series that disappears)
        knob.set(1, series="b", labels={"provider": "email"})
        knob.drop("a")
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=1))
    assert sorted((c.labels["provider"], c.state) for c in report.changes) == [
        ("email", "resolved"),
        ("payments", "resolved"),
    ]
    payments = Alert.objects.get(labels_key="provider=payments")
    assert payments.labels == {"provider": "payments"}
    assert payments.detail == "label set no longer reported"


def test_alerts_evaluate_a_raising_rule_does_not_stop_the_others(json_logs: Any) -> None:
    broken, healthy = Knob(), Knob()
    t0 = timezone.now()
    with only_rules(
        rule("ALERT_TEST_A_BROKEN", broken, for_seconds=0),
        rule("ALERT_TEST_B_HEALTHY", healthy, for_seconds=0),
    ):
        broken.set(50)
        services.alerts_evaluate(now=t0)  # broken fires while it still works
        failed_before = count_of(
            "METRIC_OPS_ALERT_RULE_FAILED", rule="ALERT_TEST_A_BROKEN", error="RuntimeError"
        )
        broken.error = RuntimeError("provider said ana@example.com is unknown")
        healthy.set(50)
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=1))
    assert report.failed == ["ALERT_TEST_A_BROKEN"]
    assert report.evaluated == ["ALERT_TEST_B_HEALTHY"]
    assert _alerts("ALERT_TEST_B_HEALTHY")[0].state == "firing"
    # an unknown condition is not a resolved one: the broken rule's alert stays as it was
    (kept,) = _alerts("ALERT_TEST_A_BROKEN")
    assert (kept.state, kept.last_evaluated_at) == ("firing", t0)
    assert (
        count_of("METRIC_OPS_ALERT_RULE_FAILED", rule="ALERT_TEST_A_BROKEN", error="RuntimeError")
        == failed_before + 1
    )
    (line,) = json_logs.events("alert.rule_failed")
    assert (line["level"], line["rule"], line["error"]) == (
        "error",
        "ALERT_TEST_A_BROKEN",
        "RuntimeError",
    )
    assert "ana@example.com" not in json_logs.text


def test_alerts_evaluate_a_failing_query_in_a_rule_leaves_the_others_working() -> None:
    def bad_sql(now: Any) -> Reading:
        Alert.objects.raw("SELECT * FROM no_such_table")[0]  # a database error
        raise AssertionError("unreachable")

    healthy = Knob()
    healthy.set(50)
    with only_rules(
        rule("ALERT_TEST_B_HEALTHY", healthy, for_seconds=0),
        _with_evaluate("ALERT_TEST_A_SQL", bad_sql),
    ):
        report = services.alerts_evaluate(now=timezone.now())
    assert report.failed == ["ALERT_TEST_A_SQL"]
    assert _alerts("ALERT_TEST_B_HEALTHY")[0].state == "firing"


def _with_evaluate(name: str, fn: Any) -> Any:
    from aventide.ops.alerts import AlertRule

    return AlertRule(
        name=name, severity=Severity.SEV3, summary="s", runbook="r", evaluate=fn, for_seconds=0
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ([{"value": 1, "active": True}], "NotAReading"),
        ([Reading(value=1, active=True, labels={"Bad-Label": "x"})], "InvalidLabels"),
        ([Reading(value=1, active=True), Reading(value=2, active=True)], "DuplicateLabels"),
    ],
)
def test_alerts_evaluate_refuses_a_malformed_reading(raw: Any, error: str) -> None:
    knob = Knob()
    knob.raw = raw
    before = count_of("METRIC_OPS_ALERT_RULE_FAILED", rule=NAME, error=error)
    with only_rules(rule(NAME, knob)):
        report = services.alerts_evaluate(now=timezone.now())
    assert report.failed == [NAME]
    assert count_of("METRIC_OPS_ALERT_RULE_FAILED", rule=NAME, error=error) == before + 1
    assert _alerts() == []


def test_alert_one_open_alert_per_rule_and_labels_is_a_database_constraint() -> None:
    now = timezone.now()
    fields = {
        "rule": NAME,
        "labels": {"provider": "email"},
        "labels_key": "provider=email",
        "severity": "SEV2",
        "started_at": now,
        "last_evaluated_at": now,
        "last_value": 1.0,
    }
    Alert.objects.create(state=AlertState.RESOLVED, resolved_at=now, **fields)
    Alert.objects.create(state=AlertState.RESOLVED, resolved_at=now, **fields)  # history: fine
    Alert.objects.create(state=AlertState.PENDING, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(state=AlertState.FIRING, fired_at=now, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(state=AlertState.FIRING, **{**fields, "labels_key": "x=1"})


def test_alerts_evaluate_sets_the_firing_gauge_per_rule() -> None:
    knob = Knob()
    with only_rules(rule(NAME, knob, for_seconds=0)):
        knob.set(50)
        services.alerts_evaluate(now=timezone.now())
        assert REGISTRY.get_sample_value("aventide_ops_alerts_firing", {"rule": NAME}) == 1
        knob.set(1)
        services.alerts_evaluate(now=timezone.now())
    assert REGISTRY.get_sample_value("aventide_ops_alerts_firing", {"rule": NAME}) == 0


def test_register_alert_rule_validates_names_and_replaces_by_name() -> None:
    knob = Knob()
    with only_rules():
        with pytest.raises(ValueError, match="ALERT_"):
            register_alert_rule(
                name="queue-high", severity=Severity.SEV2, summary="s", runbook="r",
                evaluate=knob.evaluate,
            )  # fmt: skip
        register_alert_rule(
            name=NAME, severity=Severity.SEV3, summary="s", runbook="r", evaluate=knob.evaluate
        )
        register_alert_rule(
            name=NAME, severity=Severity.SEV1, summary="s", runbook="r", evaluate=knob.evaluate
        )
        assert list(registered_alert_rules()) == [NAME]
        assert registered_alert_rules()[NAME].severity == Severity.SEV1
    assert NAME not in registered_alert_rules()


def test_labels_key_is_canonical() -> None:
    assert labels_key({}) == ""
    assert labels_key({"provider": "sms", "country": "AR"}) == "country=AR,provider=sms"


def test_evaluate_alerts_task_is_on_the_beat_every_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["ops-evaluate-alerts"]
    assert entry == {"task": "ops.evaluate_alerts", "schedule": 60.0}
    knob = Knob()
    knob.set(50)
    with only_rules(rule(NAME, knob, for_seconds=0)):
        assert tasks.evaluate_alerts() == 1  # alerts firing now
    assert _alerts()[0].state == "firing"


def test_every_registered_rule_links_a_runbook_section_that_exists() -> None:
    from tests.test_docs_links import ROOT, _anchors

    rules = registered_alert_rules()
    assert rules, "the apps register their rules at ready()"
    for name, registered in rules.items():
        path, _, anchor = registered.runbook.partition("#")
        assert (ROOT / path).is_file(), name
        assert anchor in _anchors(ROOT / path), f"{name}: no heading #{anchor} in {path}"


def test_alerts_evaluate_resolves_alerts_of_a_removed_rule_after_an_hour(json_logs: Any) -> None:
    knob = Knob()
    knob.set(50)
    t0 = timezone.now()
    with only_rules(rule("ALERT_TEST_REMOVED", knob, for_seconds=0)):
        services.alerts_evaluate(now=t0)
    with only_rules(rule(NAME, Knob(), for_seconds=0)):  # a deploy without that rule
        services.alerts_evaluate(now=t0 + timedelta(minutes=59))
        assert _alerts("ALERT_TEST_REMOVED")[0].state == "firing"  # a rolling deploy: kept
        report = services.alerts_evaluate(now=t0 + timedelta(minutes=61))
    assert [(c.rule, c.state) for c in report.changes] == [("ALERT_TEST_REMOVED", "resolved")]
    (alert,) = _alerts("ALERT_TEST_REMOVED")
    assert (alert.state, alert.detail) == ("resolved", "rule no longer registered")
    assert json_logs.events("alert.resolved")[0]["rule"] == "ALERT_TEST_REMOVED"
