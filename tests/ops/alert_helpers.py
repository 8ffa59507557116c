"""A controllable alert rule for the ops alert tests (no real condition, no sleeps)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aventide.ops.alerts import AlertRule, Reading, Severity


class Knob:
    """What the rule reads: ``values`` per label key (``""`` = the single series) compared
    with ``threshold``; ``error`` makes it raise; ``raw`` makes it return that instead."""

    def __init__(self, *, threshold: float = 10.0) -> None:
        self.threshold = threshold
        self.values: dict[str, float] = {"": 0.0}
        self.labels: dict[str, Mapping[str, str]] = {"": {}}
        self.since: datetime | None = None
        self.error: Exception | None = None
        self.raw: Any = None
        self.calls = 0

    def set(self, value: float, *, series: str = "", labels: Mapping[str, str] | None = None):
        self.values[series] = value
        self.labels[series] = labels or {}

    def drop(self, series: str) -> None:
        self.values.pop(series, None)

    def evaluate(self, now: datetime) -> list[Reading]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.raw is not None:
            return self.raw
        return [
            Reading(
                value=value,
                active=value > self.threshold,
                labels=self.labels.get(series, {}),
                since=self.since,
                detail=f"{value} vs {self.threshold}",
            )
            for series, value in self.values.items()
        ]


def rule(
    name: str, knob: Knob, *, for_seconds: float = 300.0, severity: Severity = Severity.SEV2
) -> AlertRule:
    return AlertRule(
        name=name,
        severity=severity,
        summary=f"{name} for tests",
        runbook=f"docs/operations/alerts.md#{name.lower()}",
        evaluate=knob.evaluate,
        for_seconds=for_seconds,
    )
