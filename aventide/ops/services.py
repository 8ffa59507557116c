"""Ops write use cases: evaluating the registered alert rules.

``alerts_evaluate(now=None)`` -- the beat task ``ops.evaluate_alerts`` (every
``OPS_ALERTS_EVALUATE_EVERY_SECONDS``, 60 s) and ``manage.py ops alerts --evaluate``. For each
registered rule, in its own short transaction:

1. take the rule's lock: a transaction-level advisory lock on PostgreSQL (waits at most
   ``LOCK_TIMEOUT``), so two beat/worker processes evaluating at once take turns per rule and
   the second sees what the first wrote (SQLite, the embedded single-process mode, serializes
   writers anyway). The partial unique index "one open alert per rule + labels" backs it up;
2. read the rule's condition (``rule.evaluate(now)``, inside a savepoint);
3. lock the rule's open alerts and apply the transitions: a new active label set opens a
   ``pending`` alert (started at the reading's ``since`` or now); a pending alert whose
   condition has held for the rule's ``for`` duration fires; an open alert whose condition
   cleared, or whose label set is no longer reported, is resolved.

After the transaction commits, each change emits ``METRIC_OPS_ALERT{rule,state}`` and the
firing and resolution of an alert that fired each log one ERROR line, ``alert.firing`` /
``alert.resolved`` (rule, severity, labels, value, runbook; never personal data), for the
log-based alert pipeline. A pending alert that clears before firing is resolved quietly
(metric only). The gauge ``aventide_ops_alerts_firing{rule}`` says how many alerts of each
rule fire now.

Open alerts of a rule that is no longer registered (removed from the code) are resolved once
they have gone unevaluated for ``ORPHAN_AFTER`` (1 h).

A rule that raises (or returns something that is not a ``Reading``) is logged
(``alert.rule_failed``, ERROR, exception type only), counted
(``METRIC_OPS_ALERT_RULE_FAILED{rule,error}``) and skipped: its open alerts stay as they are
(an unknown condition is not a resolved one) and every other rule is still evaluated.

No audit row: alert states are observations of the system, not acts of a person (and ops may
not import the audit app); the ``Alert`` rows and the log lines are the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from prometheus_client import Gauge

from aventide.core.logging import get_logger, redact_text
from aventide.core.metrics import REGISTRY, emit
from aventide.ops.alerts import AlertRule, Reading, labels_key, registered_alert_rules
from aventide.ops.models import OPEN_STATES, Alert, AlertState

logger = get_logger("aventide.ops")

METRIC_OPS_ALERT = "METRIC_OPS_ALERT"
METRIC_OPS_ALERT_RULE_FAILED = "METRIC_OPS_ALERT_RULE_FAILED"
#: how long an evaluator waits for another one's turn on the same rule
LOCK_TIMEOUT = timedelta(seconds=15)
#: open alerts of a rule no longer registered are resolved after this long unevaluated
ORPHAN_AFTER = timedelta(hours=1)
#: the advisory lock namespace of alert rules (first key of pg_advisory_xact_lock(int, int))
_LOCK_NAMESPACE = 0x0A1E

FIRING = Gauge(
    "aventide_ops_alerts_firing",
    "Alerts firing now, by rule (set at each evaluation).",
    ["rule"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)


@dataclass(frozen=True)
class AlertChange:
    rule: str
    labels: dict[str, str]
    state: str
    value: float
    severity: str
    runbook: str
    detail: str
    fired: bool  # for a resolution: whether the alert had fired (a page to close)
    alert_id: int


@dataclass
class EvaluationReport:
    evaluated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    changes: list[AlertChange] = field(default_factory=list)
    firing: int = 0
    pending: int = 0

    def count(self, state: str) -> int:
        return sum(1 for change in self.changes if change.state == state)

    def summary(self) -> str:
        return (
            f"evaluated {len(self.evaluated)} rule(s), {len(self.failed)} failed"
            + (f" ({', '.join(self.failed)})" if self.failed else "")
            + f"; changes: {self.count(AlertState.PENDING)} pending,"
            f" {self.count(AlertState.FIRING)} firing, {self.count(AlertState.RESOLVED)} resolved"
            f"; open now: {self.firing} firing, {self.pending} pending"
        )


class _RuleFailed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _lock_rule(rule: AlertRule) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        ms = int(LOCK_TIMEOUT.total_seconds() * 1000)
        cursor.execute(f"SET LOCAL lock_timeout = {ms}")
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_NAMESPACE, rule.name]
        )


def _readings(rule: AlertRule, now: datetime) -> list[Reading]:
    """The rule's readings (inside a savepoint: a rule's failed query leaves the transaction
    usable). Raises ``_RuleFailed`` with the exception type."""
    try:
        with transaction.atomic():
            raw = rule.evaluate(now)
            readings = [raw] if isinstance(raw, Reading) else list(raw)
    except Exception as exc:
        raise _RuleFailed(type(exc).__name__) from exc
    if not all(isinstance(r, Reading) for r in readings):
        raise _RuleFailed("NotAReading")
    try:
        keys = [labels_key(r.labels) for r in readings]
    except ValueError:
        raise _RuleFailed("InvalidLabels") from None
    if len(set(keys)) != len(keys):
        raise _RuleFailed("DuplicateLabels")
    return readings


def _change(rule: AlertRule, alert: Alert, state: str) -> AlertChange:
    return AlertChange(
        rule=rule.name,
        labels=dict(alert.labels),
        state=state,
        value=alert.last_value,
        severity=alert.severity,
        runbook=rule.runbook,
        detail=alert.detail,
        fired=alert.fired_at is not None,
        alert_id=alert.pk,
    )


def _apply(rule: AlertRule, now: datetime) -> list[AlertChange]:
    """One rule, one transaction: lock, read, transition. Raises ``_RuleFailed``."""
    changes: list[AlertChange] = []
    hold = rule.for_duration()
    with transaction.atomic():
        _lock_rule(rule)
        readings = _readings(rule, now)
        open_alerts = {
            alert.labels_key: alert
            for alert in Alert.objects.select_for_update().filter(
                rule=rule.name, state__in=OPEN_STATES
            )
        }
        seen: set[str] = set()
        for reading in readings:
            key = labels_key(reading.labels)
            seen.add(key)
            alert = open_alerts.get(key)
            detail = redact_text(reading.detail)[:200]
            if not reading.active:
                if alert is not None:
                    alert.last_value, alert.detail = float(reading.value), detail
                    alert.last_evaluated_at = now
                    alert.resolve(at=now)
                    alert.save(update_fields=[*Alert.TRANSITION_FIELDS, "detail"])
                    changes.append(_change(rule, alert, AlertState.RESOLVED))
                continue
            if alert is None:
                since = min(reading.since, now) if reading.since is not None else now
                alert = Alert.objects.create(
                    rule=rule.name,
                    labels={k: str(v)[:64] for k, v in reading.labels.items()},
                    labels_key=key,
                    severity=rule.severity.value,
                    state=AlertState.PENDING,
                    started_at=since,
                    last_evaluated_at=now,
                    last_value=float(reading.value),
                    detail=detail,
                )
                changes.append(_change(rule, alert, AlertState.PENDING))
            alert.last_value, alert.detail = float(reading.value), detail
            alert.last_evaluated_at = now
            if alert.state == AlertState.PENDING and now - alert.started_at >= hold:
                alert.fire(at=now)
                changes.append(_change(rule, alert, AlertState.FIRING))
            alert.save(update_fields=[*Alert.TRANSITION_FIELDS, "detail"])
        for key, alert in open_alerts.items():
            if key in seen:
                continue
            alert.last_evaluated_at = now
            alert.detail = "label set no longer reported"
            alert.resolve(at=now)
            alert.save(update_fields=[*Alert.TRANSITION_FIELDS, "detail"])
            changes.append(_change(rule, alert, AlertState.RESOLVED))
    return changes


def _announce(change: AlertChange) -> None:
    """After commit: the metric for every change; the ERROR line for a page opened/closed."""
    emit(METRIC_OPS_ALERT, labels={"rule": change.rule, "state": change.state})
    fields = {
        "rule": change.rule,
        "severity": change.severity,
        "labels": change.labels,
        "value": change.value,
        "detail": change.detail,
        "runbook": change.runbook,
        "alertId": change.alert_id,
    }
    if change.state == AlertState.FIRING:
        logger.error("alert.firing", **fields)
    elif change.state == AlertState.RESOLVED and change.fired:
        logger.error("alert.resolved", **fields)
    elif change.state == AlertState.RESOLVED:
        logger.info("alert.cleared_before_firing", **fields)
    else:
        logger.info("alert.pending", **fields)


def _resolve_orphans(rules: set[str], now: datetime) -> list[AlertChange]:
    """Open alerts of rules no longer registered (removed from the code) and not evaluated
    for ``ORPHAN_AFTER`` are resolved: no page stays open forever. The delay keeps a rolling
    deploy (an older process without a new rule) from resolving the new rule's alerts."""
    changes: list[AlertChange] = []
    with transaction.atomic():
        orphans = (
            Alert.objects.select_for_update(skip_locked=True)
            .filter(state__in=OPEN_STATES, last_evaluated_at__lt=now - ORPHAN_AFTER)
            .exclude(rule__in=rules)
        )
        for alert in orphans:
            alert.detail = "rule no longer registered"
            alert.last_evaluated_at = now
            alert.resolve(at=now)
            alert.save(update_fields=[*Alert.TRANSITION_FIELDS, "detail"])
            changes.append(
                AlertChange(
                    rule=alert.rule, labels=dict(alert.labels), state=AlertState.RESOLVED,
                    value=alert.last_value, severity=alert.severity, runbook="",
                    detail=alert.detail, fired=alert.fired_at is not None, alert_id=alert.pk,
                )
            )  # fmt: skip
    return changes


def alerts_evaluate(*, now: datetime | None = None) -> EvaluationReport:
    """Evaluate every registered rule once (see the module docstring). Never raises for a
    rule's failure; safe to run in several processes at once (no double firing)."""
    current = now or timezone.now()
    report = EvaluationReport()
    rules = registered_alert_rules()
    for name, rule in sorted(rules.items()):
        try:
            changes = _apply(rule, current)
        except Exception as exc:  # noqa: BLE001 -- one rule never stops the others
            error = exc.error if isinstance(exc, _RuleFailed) else type(exc).__name__
            report.failed.append(name)
            emit(METRIC_OPS_ALERT_RULE_FAILED, labels={"rule": name, "error": error[:64]})
            logger.error("alert.rule_failed", rule=name, error=error)
            continue
        report.evaluated.append(name)
        report.changes.extend(changes)
        for change in changes:
            _announce(change)
    orphans = _resolve_orphans(set(rules), current)
    report.changes.extend(orphans)
    for change in orphans:
        _announce(change)
    counts = {
        (row["rule"], row["state"]): row["n"]
        for row in Alert.objects.filter(state__in=OPEN_STATES)
        .values("rule", "state")
        .annotate(n=Count("pk"))
    }
    for name in {*rules, *(rule for rule, _ in counts)}:
        FIRING.labels(rule=name).set(counts.get((name, AlertState.FIRING), 0))
    report.firing = sum(n for (_, state), n in counts.items() if state == AlertState.FIRING)
    report.pending = sum(n for (_, state), n in counts.items() if state == AlertState.PENDING)
    return report
