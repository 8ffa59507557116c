"""The alert-rule registry (apps fill it at ``AppConfig.ready()``; ops evaluates it).

A rule is a name, a severity, a one-line summary, a runbook link, an ``evaluate(now)``
function and a ``for`` duration. ``evaluate`` returns one `Reading` -- or one per label set
(``{"provider": "payments"}``) -- saying the current value and whether the condition holds.
A condition that holds opens a ``pending`` alert; once it has held for the rule's ``for``
duration the alert is ``firing``; when it clears (or its label set is no longer reported) the
alert is ``resolved``. The evaluation and the states live in ``aventide.ops.services``.

Other apps use this through ``aventide.ops.contracts`` (``register_alert_rule``, ``Reading``,
``Severity``); thresholds are read by the rule at evaluation time (from settings), so a
changed setting applies at the next evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Severity(StrEnum):
    """The runbooks' severities (the ops incident that a later alert may open uses the same)."""

    SEV0 = "SEV0"  # total outage, critical legal/financial risk
    SEV1 = "SEV1"  # severe degradation, high impact on transactions
    SEV2 = "SEV2"  # partial impact, a workaround exists
    SEV3 = "SEV3"  # low impact / internal


@dataclass(frozen=True, slots=True)
class Reading:
    """One observation of a rule's condition.

    - ``value``: the number the condition is about (the backlog, the DLQ size, seconds open);
    - ``active``: whether the condition holds now;
    - ``labels``: which series (low cardinality: ``provider``, ``kind``, ``country``; never
      ids or personal data); ``{}`` for a rule with one series;
    - ``since``: when the condition started, when the rule knows better than "the first
      evaluation that saw it" (a circuit's opening time); the ``for`` duration counts from it;
    - ``detail``: a short, PII-free note for the command, the admin and the log line.
    """

    value: float
    active: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None
    detail: str = ""


Evaluate = Callable[[datetime], "Reading | Iterable[Reading]"]

_NAME_RE = re.compile(r"^ALERT_[A-Z0-9_]{3,90}$")
_LABEL_RE = re.compile(r"^[a-z][a-zA-Z0-9_]{0,40}$")


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    severity: Severity
    summary: str
    runbook: str
    evaluate: Evaluate
    #: seconds the condition must hold before the alert fires: a number, or a callable read at
    #: each evaluation (so a threshold from settings applies without a restart)
    for_seconds: float | Callable[[], float] = 0.0

    def for_duration(self) -> timedelta:
        raw = self.for_seconds() if callable(self.for_seconds) else self.for_seconds
        return timedelta(seconds=max(0.0, float(raw)))


_RULES: dict[str, AlertRule] = {}


def register_alert_rule(
    *,
    name: str,
    severity: Severity,
    summary: str,
    runbook: str,
    evaluate: Evaluate,
    for_seconds: float | Callable[[], float] = 0.0,
) -> AlertRule:
    """Register (or replace, by name) an alert rule. Names are ``ALERT_<UPPER_SNAKE>``."""
    if not _NAME_RE.match(name):
        raise ValueError(f"alert rule name must be ALERT_<UPPER_SNAKE>: {name!r}")
    rule = AlertRule(
        name=name,
        severity=Severity(severity),
        summary=summary,
        runbook=runbook,
        evaluate=evaluate,
        for_seconds=for_seconds,
    )
    _RULES[name] = rule
    return rule


def registered_alert_rules() -> dict[str, AlertRule]:
    return dict(_RULES)


def alert_rule(name: str) -> AlertRule | None:
    return _RULES.get(name)


@contextmanager
def only_rules(*rules: AlertRule) -> Iterator[None]:
    """Evaluate exactly ``rules`` inside the block (tests); the registry is restored after."""
    saved = dict(_RULES)
    _RULES.clear()
    _RULES.update({rule.name: rule for rule in rules})
    try:
        yield
    finally:
        _RULES.clear()
        _RULES.update(saved)


def labels_key(labels: Mapping[str, str]) -> str:
    """The canonical form of a label set (``"provider=payments"``): one open alert per rule
    and key (a database constraint). Invalid label names are refused, values are cut."""
    parts = []
    for key in sorted(labels):
        if not _LABEL_RE.match(key):
            raise ValueError(f"alert label name must be lowerCamel/snake: {key!r}")
        parts.append(f"{key}={str(labels[key])[:64]}")
    return ",".join(parts)[:255]
