"""Celery tasks of the realtime app: thin, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from realtime import services


@shared_task(name="realtime.purge_expired", ignore_result=True)
def purge_expired() -> int:
    """Beat (hourly): delete events older than ``REALTIME_RETENTION_SECONDS``. Safe to run
    twice or concurrently (each batch locks the retention mark)."""
    return services.purge_expired(batch=int(settings.REALTIME_PURGE_BATCH)).events
