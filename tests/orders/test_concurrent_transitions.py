"""Concurrent transitions on distinct orders never answer 5xx (the 500-on-commit race).

django-fsm-2's ``FSMModelMixin.refresh_from_db`` flips the status field's class-wide
``protected`` flag off and on; threads serving requests at the same time (ASGI runs sync views
in a thread pool) saw it in the wrong state and answered 500 "Direct status modification is
not allowed" for writes that had committed. Real threads on PostgreSQL, through the API views
(the Django test client runs the whole middleware + view stack in the calling thread).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import Event
from aventide.accounts import services as accounts
from aventide.core.principal import SYSTEM
from aventide.ledger.selectors import order_money
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import bearer, principal

from .conftest import OrderWorld

THREADS = 32
PER_THREAD = 10


def _paid_orders(world: OrderWorld, count: int) -> list[int]:
    buyer = principal(world.buyer)
    ids = []
    for _ in range(count):
        order = services.order_create(
            actor=buyer, listing_id=world.listing.pk, recipient_name="Ana"
        ).order
        services.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference="psp")
        ids.append(order.pk)
    return ids


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
        assert not thread.is_alive()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_cancels_and_accepts_on_distinct_orders_never_answer_5xx(
    countries: list[str],
) -> None:
    world = OrderWorld("AR")
    ids = _paid_orders(world, THREADS * PER_THREAD)
    seller_token = accounts.session_start(user=world.seller, method="password").access
    buyer_token = accounts.session_start(user=world.buyer, method="password").access
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        as_seller = APIClient(raise_request_exception=False)
        as_seller.credentials(**bearer(seller_token))
        as_buyer = APIClient(raise_request_exception=False)
        as_buyer.credentials(**bearer(buyer_token))
        mine = ids[index * PER_THREAD : (index + 1) * PER_THREAD]
        try:
            barrier.wait(timeout=60)
            for n, order_id in enumerate(mine):
                if (index + n) % 2:  # the seller accepts ...
                    response = as_seller.post(f"/api/orders/{order_id}/accept")
                else:  # ... or the buyer cancels (and is refunded)
                    response = as_buyer.post(
                        f"/api/orders/{order_id}/cancel", {"reason": "changed mind"}, format="json"
                    )
                with lock:
                    statuses.append(response.status_code)
                connection.close()  # back to the pool, as the end of a real request does
        finally:
            connection.close()

    _run([threading.Thread(target=worker, args=(i,)) for i in range(THREADS)])

    assert Counter(statuses) == {200: THREADS * PER_THREAD}
    orders = Order.objects.filter(pk__in=ids)
    cancelled = [o.pk for o in orders if o.status == OrderStatus.CANCELLED]
    accepted = [o.pk for o in orders if o.status == OrderStatus.ACCEPTED]
    assert len(cancelled) + len(accepted) == len(ids)
    # every write's effect exactly once: one audit row per transition, one refund per cancel
    for action, group in (("order.cancelled", cancelled), ("order.accepted", accepted)):
        rows = Event.objects.filter(action=action, target_id__in=[str(i) for i in group])
        assert rows.count() == len(group)
    refunds = Event.objects.filter(
        action="ledger.transaction_posted",
        target_id__in=[str(i) for i in cancelled],
        data__reason="refund",
    )
    assert refunds.count() == len(cancelled)
    for order_id in cancelled[:20]:
        money = order_money(order_id)
        assert money.refunded == money.captured and money.escrow == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refresh_from_db_is_thread_safe_on_the_protected_status(countries: list[str]) -> None:
    """Threads refreshing different orders at once never trip the protected status field."""
    world = OrderWorld("AR")
    ids = [world.new_order().pk for _ in range(THREADS)]
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)

    def worker(order_id: int) -> None:
        order = Order.objects.get(pk=order_id)
        connection.close()  # back to the pool before waiting for the others
        try:
            barrier.wait(timeout=120)
            for _ in range(30):
                order.refresh_from_db()
                assert order.status == OrderStatus.PENDING_PAYMENT
                connection.close()  # hand the pooled connection to the next thread
        except Exception as exc:  # noqa: BLE001 -- collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    _run([threading.Thread(target=worker, args=(i,)) for i in ids])
    assert errors == []
    order = Order.objects.get(pk=ids[0])
    with pytest.raises(AttributeError, match="Direct status modification"):
        order.status = OrderStatus.PAID  # still protected after all those refreshes
