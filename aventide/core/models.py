"""Base model pieces shared by every app."""

from __future__ import annotations

from django.db import models


class TimeStampedModel(models.Model):
    """Aware created/updated timestamps (UTC)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
