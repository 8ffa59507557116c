"""``Alert``: one episode of an alert rule's condition for one label set.

::

    (condition holds) ──► pending ──(held for the rule's `for`)──► firing
                             │                                      │
                             └──────(condition clears)──► resolved ◄┘

A pending alert that clears is resolved without ever having fired (``fired_at`` empty: no
page was sent). At most one alert per (rule, label set) is open -- pending or firing -- at a
time: a partial unique index, so two evaluators can never both open one. Rows are written only
by ``aventide.ops.services.alerts_evaluate``; transitions here guard and assign only.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q

__all__ = ["OPEN_STATES", "Alert", "AlertState"]


class AlertState(models.TextChoices):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


OPEN_STATES = (AlertState.PENDING, AlertState.FIRING)


class Alert(models.Model):
    rule = models.CharField(max_length=100)
    #: the label set, and its canonical text (``provider=payments``; "" for a single series)
    labels = models.JSONField(default=dict, blank=True)
    labels_key = models.CharField(max_length=255, blank=True, default="")
    severity = models.CharField(max_length=8)
    state = models.CharField(max_length=16, choices=AlertState.choices)
    #: when the condition started holding (the rule's ``since``, else the first evaluation)
    started_at = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField()
    last_value = models.FloatField()
    #: the rule's short note at the last evaluation (no personal data)
    detail = models.CharField(max_length=200, blank=True, default="")

    TRANSITION_FIELDS = ("state", "fired_at", "resolved_at", "last_evaluated_at", "last_value")

    class Meta:
        ordering = ("-started_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "labels_key"],
                condition=Q(state__in=["pending", "firing"]),
                name="ops_alert_one_open_per_rule_labels",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "firing", "resolved"]),
                name="ops_alert_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="firing") | Q(fired_at__isnull=False),
                name="ops_alert_firing_has_fired_at",
            ),
            models.CheckConstraint(
                condition=~Q(state="resolved") | Q(resolved_at__isnull=False),
                name="ops_alert_resolved_has_resolved_at",
            ),
        ]
        indexes = [models.Index(fields=["state", "rule"], name="ops_alert_state_rule")]

    def __str__(self) -> str:
        labels = f"{{{self.labels_key}}}" if self.labels_key else ""
        return f"{self.rule}{labels} {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    # --- transitions (guard + assign) ------------------------------------------------------
    def fire(self, *, at: datetime) -> None:
        if self.state != AlertState.PENDING:
            raise ValueError(f"cannot fire a {self.state} alert")
        self.state = AlertState.FIRING
        self.fired_at = at

    def resolve(self, *, at: datetime) -> None:
        if self.state not in OPEN_STATES:
            raise ValueError(f"cannot resolve a {self.state} alert")
        self.state = AlertState.RESOLVED
        self.resolved_at = at
