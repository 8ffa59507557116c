"""The public surface of ops for the apps (besides services, selectors, errors).

Apps register with ops at ``AppConfig.ready()``:

- alert rules: ``register_alert_rule(name=..., severity=..., summary=..., runbook=...,
  evaluate=..., for_seconds=...)``, where ``evaluate(now)`` returns a ``Reading`` (or one per
  label set) -- see ``aventide/ops/alerts.py`` and docs/operations/alerts.md;
- readiness checks: ``register_check(name, fn)`` (``/readyz``), with ``CheckFailed`` and
  ``Outcome`` for what a check may raise or return.
"""

from __future__ import annotations

from aventide.ops.alerts import AlertRule, Reading, Severity, register_alert_rule
from aventide.ops.health import CheckFailed, Outcome, register_check

__all__ = [
    "AlertRule",
    "CheckFailed",
    "Outcome",
    "Reading",
    "Severity",
    "register_alert_rule",
    "register_check",
]
