"""The integrations hub's alert rules, registered with ops at ``IntegrationsConfig.ready()``.

Evaluated by ops every minute (``ops.evaluate_alerts``; states, logs and metrics in
``aventide.ops.services``). Thresholds come from settings at each evaluation (env overrides,
defaults from seed runbook 004 and issue 10); what each means and what to do:
docs/operations/alerts.md.

- ``ALERT_INTEGRATION_DLQ_GROWING`` (SEV3): at least ``INTEGRATIONS_DLQ_GROWING_MIN_JOBS`` (1)
  jobs entered the DLQ in the last ``INTEGRATIONS_DLQ_GROWING_WINDOW_SECONDS`` (5 min); fires
  at once, resolves once a whole window passes with none. Value: the DLQ size.
- ``ALERT_INTEGRATION_CIRCUIT_OPEN`` (SEV2), per provider kind: the circuit has been open or
  half-open, without closing, for ``INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS`` (5 min), counted
  from the moment it opened (kept by the breaker in Redis). Value: seconds open.
- ``ALERT_INTEGRATION_BACKLOG`` (SEV2): more than ``INTEGRATIONS_BACKLOG_ALERT_THRESHOLD``
  (1,000) due jobs (pending + retry_scheduled whose time has come) at every evaluation for
  ``INTEGRATIONS_BACKLOG_ALERT_SECONDS`` (15 min). Value: the due backlog.

Each job entering the DLQ is still logged at once by the worker (``ALERT_INTEGRATION_DLQ``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from aventide.ops.contracts import Reading, Severity, register_alert_rule
from integrations import selectors
from integrations.providers.base import Kind

DLQ_GROWING = "ALERT_INTEGRATION_DLQ_GROWING"
CIRCUIT_OPEN = "ALERT_INTEGRATION_CIRCUIT_OPEN"
BACKLOG = "ALERT_INTEGRATION_BACKLOG"
_RUNBOOK = "docs/operations/alerts.md#"


def dlq_growing(now: datetime) -> Reading:
    window = max(1.0, float(settings.INTEGRATIONS_DLQ_GROWING_WINDOW_SECONDS))
    minimum = max(1, int(settings.INTEGRATIONS_DLQ_GROWING_MIN_JOBS))
    entered = selectors.dlq_entered_since(now - timedelta(seconds=window))
    size = selectors.dlq_size()
    return Reading(
        value=size,
        active=entered >= minimum,
        detail=f"{entered} job(s) entered the DLQ in the last {int(window)} s; {size} dead",
    )


def circuit_open(now: datetime) -> list[Reading]:
    readings = []
    for kind, since in selectors.circuits_open_since([k.value for k in Kind]).items():
        seconds = max(0.0, (now - since).total_seconds()) if since is not None else 0.0
        readings.append(
            Reading(
                value=round(seconds, 1),
                active=since is not None,
                labels={"provider": kind},
                since=since,
                detail=f"open for {int(seconds)} s" if since is not None else "closed",
            )
        )
    return readings


def backlog(now: datetime) -> Reading:
    threshold = int(settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD)
    due = selectors.due_backlog(now=now)
    return Reading(
        value=due,
        active=due > threshold,
        detail=f"{due} due job(s) waiting (threshold {threshold})",
    )


def register_alert_rules() -> None:
    register_alert_rule(
        name=DLQ_GROWING,
        severity=Severity.SEV3,
        summary="Outbox jobs are entering the dead-letter queue",
        runbook=_RUNBOOK + "alert_integration_dlq_growing",
        evaluate=dlq_growing,
        for_seconds=0.0,
    )
    register_alert_rule(
        name=CIRCUIT_OPEN,
        severity=Severity.SEV2,
        summary="A provider's circuit breaker has been open too long",
        runbook=_RUNBOOK + "alert_integration_circuit_open",
        evaluate=circuit_open,
        for_seconds=lambda: float(settings.INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS),
    )
    register_alert_rule(
        name=BACKLOG,
        severity=Severity.SEV2,
        summary="The outbox's due backlog stays above the threshold",
        runbook=_RUNBOOK + "alert_integration_backlog",
        evaluate=backlog,
        for_seconds=lambda: float(settings.INTEGRATIONS_BACKLOG_ALERT_SECONDS),
    )
