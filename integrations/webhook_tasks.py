"""Celery task of inbound webhooks: ``integrations.process_webhook_event(event_pk)``.

A module of its own (not ``integrations/tasks.py``, the outbox's), so Celery's
``autodiscover_tasks`` (which imports ``<app>.tasks`` only) would not find it:
``IntegrationsConfig.ready()`` imports it, which registers the task in every process that
loads Django (web, worker, beat).

The task calls `integrations.webhook_services.process_event` and is safe to run twice (the
row lock + status check skip a processed event). A handler that raises (or asks to wait with
``RetryLater``) is retried with capped exponential backoff and full jitter, short countdowns
only (at most ``WEBHOOK_RETRY_MAX_SECONDS``, far below Redis's visibility timeout), up to
``WEBHOOK_MAX_ATTEMPTS`` tries; then the event stays ``failed`` / ``received`` in the table.
In eager mode (embedded, tests) there is no in-process retry loop: the row keeps the state,
and the beat task ``integrations.redispatch_webhook_events`` (every minute) re-enqueues
events still ``received`` -- never tried because the dispatch was lost (broker down at
commit), or waiting after ``RetryLater`` -- while they have tries left.
The durable retry path (rows with ``next_attempt_at``, DLQ) is the outbox's: at the merge
``process_event`` is registered there as the local executor of kind ``"inbound"``.
"""

from __future__ import annotations

import random
from typing import Any

from celery import shared_task

from integrations import webhook_services
from integrations.webhook_services import RetryLater

WEBHOOK_MAX_ATTEMPTS = webhook_services.MAX_ATTEMPTS
WEBHOOK_RETRY_BASE_SECONDS = 5.0
WEBHOOK_RETRY_MAX_SECONDS = 300.0


def retry_countdown(retries: int, *, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**retries)]."""
    ceiling = min(WEBHOOK_RETRY_MAX_SECONDS, WEBHOOK_RETRY_BASE_SECONDS * (2 ** min(retries, 16)))
    return (rng or random).uniform(0, ceiling)


@shared_task(
    name="integrations.process_webhook_event",
    bind=True,
    ignore_result=True,
    max_retries=WEBHOOK_MAX_ATTEMPTS - 1,
)
def process_webhook_event(self: Any, event_pk: int) -> str:
    try:
        return webhook_services.process_event(int(event_pk))
    except Exception as exc:  # noqa: BLE001  # every handler failure is retried
        outcome = "pending" if isinstance(exc, RetryLater) else "failed"
        if self.request.is_eager or self.request.retries >= self.max_retries:
            return outcome
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from None


@shared_task(name="integrations.redispatch_webhook_events", ignore_result=True)
def redispatch_webhook_events() -> int:
    """Beat: re-enqueue pending events whose dispatch was lost (or that wait after
    ``RetryLater`` in embedded mode)."""
    return webhook_services.webhook_events_redispatch()
