"""Celery tasks of the order chat: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from messaging import services


@shared_task(name="messaging.close_due", ignore_result=True)
def close_due() -> int:
    """Beat (hourly, ``MESSAGING_CLOSE_DUE_EVERY_SECONDS``): close the conversations whose
    order completed ``MESSAGING_CLOSE_AFTER_DAYS`` (30) days ago; returns how many closed.

    Safe to run twice or concurrently: closing is idempotent per conversation (each in its own
    frame, under its row lock); a batch cut short by the limit continues at the next run."""
    return services.conversations_close_due().closed


@shared_task(name="messaging.activate_overdue", ignore_result=True)
def activate_overdue() -> int:
    """Beat (every 15 minutes, ``MESSAGING_OVERDUE_EVERY_SECONDS``): open the dormant chat of
    every order still in transit ``MESSAGING_DELIVERY_OVERDUE_HOURS`` after dispatch; returns
    how many opened. Safe to run twice: an open chat is left as it is."""
    return services.conversations_activate_overdue().activated
