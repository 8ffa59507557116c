"""Outbox health as gauges and metrics: backlog, DLQ size, circuit states (beat, every 60 s).

``report()`` sets Prometheus gauges (``aventide_integration_backlog{provider}``,
``aventide_integration_dlq{provider}``, ``aventide_integration_circuit_open{provider}``,
``aventide_integration_circuit_open_seconds{provider}``) and emits
``METRIC_INTEGRATION_BACKLOG`` / ``METRIC_INTEGRATION_DLQ_SIZE``. The worker observes each
provider call's latency in ``aventide_integration_call_duration_seconds{provider,outcome}``
(``observe_call``); calls and errors per provider are ``METRIC_INTEGRATION_CALL``.

Alerting on these figures is not done here: the hub's alert rules (``integrations/alerts.py``:
``ALERT_INTEGRATION_DLQ_GROWING``, ``ALERT_INTEGRATION_CIRCUIT_OPEN``,
``ALERT_INTEGRATION_BACKLOG``) are evaluated by ops, which keeps each alert's state (pending,
firing, resolved) and its ``for`` duration, and logs ``alert.firing`` / ``alert.resolved``
once per episode (docs/operations/alerts.md). Each job entering the DLQ is still logged at
once by the worker (``ALERT_INTEGRATION_DLQ``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from prometheus_client import Gauge, Histogram

from aventide.core.metrics import REGISTRY, emit
from integrations import breaker, selectors
from integrations.providers.base import Kind

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
CIRCUIT_OPEN_SECONDS = Gauge(
    "aventide_integration_circuit_open_seconds",
    "Seconds the provider's circuit has been open or half-open without closing (0: closed).",
    ["provider"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
CALL_DURATION = Histogram(
    "aventide_integration_call_duration_seconds",
    "Provider call latency by provider kind and outcome (succeeded, transient, permanent).",
    ["provider", "outcome"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def observe_call(*, provider: str, outcome: str, duration_ms: int) -> None:
    """One provider call's latency, per provider kind (the worker calls it for each call)."""
    CALL_DURATION.labels(provider=provider, outcome=outcome).observe(max(duration_ms, 0) / 1000)


@dataclass
class OutboxReport:
    backlog: dict[str, int] = field(default_factory=dict)
    dlq: dict[str, int] = field(default_factory=dict)
    circuits: dict[str, str] = field(default_factory=dict)


def report(*, now: datetime | None = None) -> OutboxReport:
    """Read the outbox's state, set the gauges, emit the metrics. 2 queries."""
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

    for kind in kinds:
        state = breaker.state(kind)
        out.circuits[kind] = state.value
        CIRCUIT_OPEN.labels(provider=kind).set(0 if state == breaker.CircuitState.CLOSED else 1)
        CIRCUIT_OPEN_SECONDS.labels(provider=kind).set(
            round(breaker.open_seconds(kind, now=current.timestamp()), 1)
            if state != breaker.CircuitState.CLOSED
            else 0
        )
    return out
