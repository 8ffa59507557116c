"""Outbox health for metrics and alerts: backlog, DLQ size, circuit states (beat, every 60 s).

``report()`` sets Prometheus gauges (``aventide_integration_backlog{provider}``,
``aventide_integration_dlq{provider}``, ``aventide_integration_circuit_open{provider}``),
emits ``METRIC_INTEGRATION_BACKLOG`` / ``METRIC_INTEGRATION_DLQ_SIZE`` and logs the alerts
(level error, for the alert pipeline; thresholds from settings, seed runbook 004):

- ``ALERT_INTEGRATION_BACKLOG``: more than ``INTEGRATIONS_BACKLOG_ALERT_THRESHOLD`` (1,000)
  waiting jobs while the oldest due one has waited ``INTEGRATIONS_BACKLOG_ALERT_SECONDS``
  (15 min) -- the stateless reading of "backlog > 1,000 for 15 minutes";
- ``ALERT_INTEGRATION_DLQ_GROWING``: jobs entered the DLQ since the previous report;
- ``ALERT_INTEGRATION_CIRCUIT_OPEN``: a circuit open for more than
  ``INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS`` (5 min).

Each job entering the DLQ is also alerted at once by the worker (``ALERT_INTEGRATION_DLQ``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client import Gauge

from aventide.core.logging import get_logger
from aventide.core.metrics import REGISTRY, emit
from integrations import breaker, selectors
from integrations.providers.base import Kind

logger = get_logger("aventide.integrations")

BACKLOG = Gauge(
    "aventide_integration_backlog",
    "Outbox jobs waiting to run (pending + retry_scheduled), by provider kind.",
    ["provider"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
DLQ = Gauge(
    "aventide_integration_dlq",
    "Outbox jobs in the dead-letter queue, by provider kind.",
    ["provider"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
CIRCUIT_OPEN = Gauge(
    "aventide_integration_circuit_open",
    "1 while the provider's circuit is open or half-open.",
    ["provider"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)


@dataclass
class OutboxReport:
    backlog: dict[str, int] = field(default_factory=dict)
    dlq: dict[str, int] = field(default_factory=dict)
    circuits: dict[str, str] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)


def report(*, now: datetime | None = None) -> OutboxReport:
    """Read the outbox's state, set the gauges, emit the metrics, log the alerts. 3 queries."""
    current = now or timezone.now()
    out = OutboxReport()
    backlog = selectors.backlog_by_kind(now=current)
    out.backlog = {kind: n for kind, (n, _) in backlog.items()}
    out.dlq = selectors.dlq_size_by_kind()
    kinds = sorted({*(k.value for k in Kind), *out.backlog, *out.dlq})
    for kind in kinds:
        BACKLOG.labels(provider=kind).set(out.backlog.get(kind, 0))
        DLQ.labels(provider=kind).set(out.dlq.get(kind, 0))
    total = sum(out.backlog.values())
    emit("METRIC_INTEGRATION_BACKLOG", pending=total, byProvider=out.backlog)
    emit("METRIC_INTEGRATION_DLQ_SIZE", dead=sum(out.dlq.values()), byProvider=out.dlq)

    oldest = min((due for _, due in backlog.values() if due is not None), default=None)
    waited = (current - oldest).total_seconds() if oldest is not None else 0.0
    if total > int(settings.INTEGRATIONS_BACKLOG_ALERT_THRESHOLD) and waited >= float(
        settings.INTEGRATIONS_BACKLOG_ALERT_SECONDS
    ):
        out.alerts.append("ALERT_INTEGRATION_BACKLOG")
        logger.error("ALERT_INTEGRATION_BACKLOG", pending=total, oldestDueSeconds=int(waited))

    window = timedelta(seconds=float(settings.INTEGRATIONS_REPORT_EVERY_SECONDS))
    entered = selectors.dlq_entered_since(current - window)
    if entered:
        out.alerts.append("ALERT_INTEGRATION_DLQ_GROWING")
        logger.error("ALERT_INTEGRATION_DLQ_GROWING", entered=entered, dead=sum(out.dlq.values()))

    limit = float(settings.INTEGRATIONS_CIRCUIT_OPEN_ALERT_SECONDS)
    for kind in kinds:
        state = breaker.state(kind)
        out.circuits[kind] = state.value
        CIRCUIT_OPEN.labels(provider=kind).set(0 if state == breaker.CircuitState.CLOSED else 1)
        open_for = breaker.open_seconds(kind)
        if state != breaker.CircuitState.CLOSED and open_for > limit:
            out.alerts.append("ALERT_INTEGRATION_CIRCUIT_OPEN")
            logger.error("ALERT_INTEGRATION_CIRCUIT_OPEN", provider=kind, openSeconds=int(open_for))
    return out
