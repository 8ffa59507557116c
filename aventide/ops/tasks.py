"""Celery tasks of ops: thin, safe to run twice (and in two beat/worker processes at once)."""

from __future__ import annotations

from celery import shared_task

from aventide.ops import services


@shared_task(name="ops.evaluate_alerts", ignore_result=True, soft_time_limit=50, time_limit=90)
def evaluate_alerts() -> int:
    """Beat, every ``OPS_ALERTS_EVALUATE_EVERY_SECONDS`` (60 s): evaluate every alert rule.
    Returns how many alerts fire now."""
    return services.alerts_evaluate().firing
