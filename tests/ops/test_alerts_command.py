"""``manage.py ops alerts``: open and recent alerts, ``--evaluate`` with its summary line,
``--rules``; a failing rule makes ``--evaluate`` exit non-zero after printing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from aventide.ops import services
from aventide.ops.alerts import only_rules
from aventide.ops.models import Alert, AlertState
from tests.ops.alert_helpers import Knob, rule

pytestmark = pytest.mark.django_db


def _run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command("ops", "alerts", *args, stdout=out)
    return out.getvalue().splitlines()


def test_ops_alerts_lists_firing_first_then_pending_then_recently_resolved() -> None:
    queue, circuit = Knob(), Knob()
    t0 = timezone.now() - timedelta(minutes=30)
    with only_rules(
        rule("ALERT_TEST_QUEUE", queue, for_seconds=0),
        rule("ALERT_TEST_CIRCUIT", circuit, for_seconds=600),
    ):
        queue.set(50)
        services.alerts_evaluate(now=t0)
        queue.set(1)
        services.alerts_evaluate(now=t0 + timedelta(minutes=1))  # resolved
        queue.set(70)
        circuit.drop("")
        circuit.set(20, series="p", labels={"provider": "payments"})
        services.alerts_evaluate(now=t0 + timedelta(minutes=2))
        lines = _run()
    firing, pending, resolved, total = lines
    assert firing.split("\t")[1:4] == ["FIRING", "SEV2", "ALERT_TEST_QUEUE"]
    assert "value=70" in firing and "fired=" in firing
    assert pending.split("\t")[1:4] == ["PENDING", "SEV2", "ALERT_TEST_CIRCUIT{provider=payments}"]
    assert resolved.split("\t")[1] == "RESOLVED" and "resolved=" in resolved
    assert total == "1 firing, 1 pending, 1 resolved in the last 24 h"


def test_ops_alerts_since_hides_older_resolutions() -> None:
    now = timezone.now()
    Alert.objects.create(
        rule="ALERT_TEST_OLD", severity="SEV3", state=AlertState.RESOLVED,
        started_at=now - timedelta(days=3), resolved_at=now - timedelta(days=2),
        last_evaluated_at=now - timedelta(days=2), last_value=0,
    )  # fmt: skip
    assert _run()[-1] == "0 firing, 0 pending, 0 resolved in the last 24 h"
    assert _run("--since", "72")[-1] == "0 firing, 0 pending, 1 resolved in the last 72 h"


def test_ops_alerts_evaluate_prints_the_summary_line() -> None:
    knob = Knob()
    knob.set(50)
    with only_rules(rule("ALERT_TEST_QUEUE", knob, for_seconds=0)):
        lines = _run("--evaluate")
    assert lines[0] == (
        "evaluated 1 rule(s), 0 failed; changes: 1 pending, 1 firing, 0 resolved;"
        " open now: 1 firing, 0 pending"
    )
    assert lines[-1] == "1 firing, 0 pending, 0 resolved in the last 24 h"


def test_ops_alerts_evaluate_exits_non_zero_when_a_rule_fails() -> None:
    broken, healthy = Knob(), Knob()
    broken.error = ConnectionError("redis down")
    healthy.set(50)
    out = io.StringIO()
    with (
        only_rules(
            rule("ALERT_TEST_BROKEN", broken, for_seconds=0),
            rule("ALERT_TEST_QUEUE", healthy, for_seconds=0),
        ),
        pytest.raises(CommandError, match="1 rule\\(s\\) failed to evaluate: ALERT_TEST_BROKEN"),
    ):
        call_command("ops", "alerts", "--evaluate", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("evaluated 1 rule(s), 1 failed (ALERT_TEST_BROKEN);")
    assert "ALERT_TEST_QUEUE" in lines[1]  # the other rule was evaluated and is listed


def test_ops_alerts_rules_lists_the_registered_rules() -> None:
    lines = _run("--rules")
    assert lines[-1] == f"{len(lines) - 1} rule(s)"
    backlog = next(line for line in lines if line.startswith("ALERT_INTEGRATION_BACKLOG\t"))
    assert backlog.split("\t")[1:3] == ["SEV2", "for=900s"]
    assert backlog.endswith("docs/operations/alerts.md#alert_integration_backlog")
