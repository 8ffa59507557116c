"""Inbound provider events: ``WebhookEvent``, stored once per ``(provider, event_id)``.

The UNIQUE constraint is the idempotency: the receiver inserts with ``ON CONFLICT DO
NOTHING``, so a provider's retry (or a concurrent duplicate delivery) finds the first row and
is acknowledged without being processed again. ``payload`` is redacted like log lines (no PII,
no secrets) except for the fields handlers need (``integrations.webhook_services.KEEP_PATHS``).
"""

from __future__ import annotations

from django.db import models

__all__ = ["WebhookEvent"]


class WebhookEvent(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "received"  # stored, waiting for (or between) processing tries
        PROCESSED = "processed", "processed"
        FAILED = "failed", "failed"  # the handler raised; retried until the retry path gives up
        IGNORED = "ignored", "ignored"  # no handler for the type: stored and acknowledged

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="integrations_webhook_provider_event_uniq"
            )
        ]
        indexes = [models.Index(fields=["provider", "event_type"], name="integ_webhook_type_idx")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} ({self.event_type}, {self.status})"
