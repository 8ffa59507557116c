"""Celery tasks of orders: thin, idempotent."""

from __future__ import annotations

from celery import shared_task

from aventide.orders import services


@shared_task(name="orders.complete_due_orders", ignore_result=True)
def complete_due_orders() -> int:
    """Beat: complete delivered orders past their country's dispute window."""
    return services.orders_complete_due()
