"""Celery tasks of audit: thin, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from audit import services


@shared_task(name="audit.seal_audit_events", ignore_result=True)
def seal_audit_events() -> int:
    """Beat, every minute: seal unsealed audit events; returns how many events were sealed.

    Idempotent: a run with nothing new (or racing another sealer) seals nothing twice.
    """
    return sum(seal.count for seal in services.seal_pending())
