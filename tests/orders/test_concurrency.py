"""20 threads accept one paid order: exactly one wins (PostgreSQL, real concurrency)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit.selectors import events_for_target
from aventide.core.errors import DomainError
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal

from .conftest import OrderWorld

THREADS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_order_accept_from_20_threads_has_exactly_one_winner(countries: list[str]) -> None:
    world = OrderWorld("AR")
    order = world.order_in(OrderStatus.PAID)
    barrier = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS

    def accept(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = services.order_accept(
                actor=principal(world.seller), order_id=order.pk
            ).status
        except DomainError as exc:
            results[i] = exc.code
        except Exception as exc:  # noqa: BLE001 -- any other error fails the assertion below
            results[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert results.count(OrderStatus.ACCEPTED) == 1
    losers = [r for r in results if r != OrderStatus.ACCEPTED]
    assert len(losers) == THREADS - 1
    assert set(losers) <= {"ORDER_STATE_CONFLICT", "INVALID_TRANSITION"}
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ACCEPTED
    accepted_events = [
        e for e in events_for_target("order", str(order.pk)) if e.action == "order.accepted"
    ]
    assert len(accepted_events) == 1
