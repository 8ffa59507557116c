"""Through the real ASGI server, under concurrent clients (issue 9: a service-level test once
missed a 500-on-commit race that only showed under ASGI threads).

`python -m aventide.server` runs against this test database; 16 clients cancel and accept
distinct paid orders and 20 clients race one Idempotency-Key. Every answer is 2xx, every
effect happens exactly once.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection

from audit.models import Event
from aventide.accounts import services as accounts
from aventide.core.principal import SYSTEM
from aventide.orders import services
from aventide.orders.models import Order, OrderStatus
from tests.accounts.factories import principal
from tests.ops.live_server import live_server
from tests.ops.test_pool_live import dsn

from .conftest import OrderWorld

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 16
PER_CLIENT = 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_through_the_asgi_server_never_answer_5xx(
    tmp_path: Path, countries: list[str]
) -> None:
    world = OrderWorld("AR")
    buyer = principal(world.buyer)
    ids = []
    for _ in range(CLIENTS * PER_CLIENT):
        order = services.order_create(
            actor=buyer, listing_id=world.listing.pk, recipient_name="Ana"
        ).order
        services.order_mark_paid(actor=SYSTEM, order_id=order.pk, payment_reference="psp")
        ids.append(order.pk)
    seller_token = accounts.session_start(user=world.seller, method="password").access
    buyer_token = accounts.session_start(user=world.buyer, method="password").access
    env = {
        "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
        "WEB_CONCURRENCY": "1",
        "ASGI_THREADS": "8",
        "DB_POOL_MAX_SIZE": "8",
        "DB_POOL_TIMEOUT_SECONDS": "30",
        "THROTTLE_USER": "100000/min",
        "PGAPPNAME": f"aventide-asgi-race-{os.getpid()}",
    }
    with live_server(tmp_path, env) as server:

        def writes(index: int) -> list[int]:
            mine = ids[index * PER_CLIENT : (index + 1) * PER_CLIENT]
            statuses = []
            with httpx.Client(base_url=server.url, timeout=120) as http:
                for n, order_id in enumerate(mine):
                    if (index + n) % 2:
                        response = http.post(
                            f"/api/orders/{order_id}/accept",
                            headers={"Authorization": f"Bearer {seller_token}"},
                        )
                    else:
                        response = http.post(
                            f"/api/orders/{order_id}/cancel",
                            json={"reason": "changed mind"},
                            headers={"Authorization": f"Bearer {buyer_token}"},
                        )
                    statuses.append(response.status_code)
            return statuses

        def create(_: int) -> tuple[int, int | None]:
            with httpx.Client(base_url=server.url, timeout=120) as http:
                response = http.post(
                    "/api/orders",
                    json={"listingId": world.listing.pk, "recipient": {"name": "Bea"}},
                    headers={
                        "Authorization": f"Bearer {buyer_token}",
                        "Idempotency-Key": "asgi-double-click",
                    },
                )
                return response.status_code, response.json().get("id")

        with ThreadPoolExecutor(max_workers=CLIENTS + 20) as pool:
            write_results = pool.map(writes, range(CLIENTS))
            create_results = list(pool.map(create, range(20)))
            statuses = [s for batch in write_results for s in batch]
        log = server.log()

    assert Counter(statuses) == {200: CLIENTS * PER_CLIENT}, log[-3000:]
    orders = {o.pk: o.status for o in Order.objects.filter(pk__in=ids)}
    cancelled = [pk for pk, status in orders.items() if status == OrderStatus.CANCELLED]
    accepted = [pk for pk, status in orders.items() if status == OrderStatus.ACCEPTED]
    assert len(cancelled) + len(accepted) == len(ids)
    for action, group in (("order.cancelled", cancelled), ("order.accepted", accepted)):
        assert Event.objects.filter(action=action, target_id__in=map(str, group)).count() == len(
            group
        )
    refunds = Event.objects.filter(
        action="ledger.transaction_posted", target_id__in=map(str, cancelled), data__reason="refund"
    )
    assert refunds.count() == len(cancelled)
    assert Counter(status for status, _ in create_results) == {201: 1, 200: 19}
    assert len({order_id for _, order_id in create_results}) == 1
    assert Order.objects.filter(recipient_name="Bea").count() == 1
    assert "Direct status modification" not in log and '"status": "500"' not in log


@pytest.mark.django_db(transaction=True)
def test_concurrent_pay_requests_through_the_asgi_server_start_one_payment_per_order(
    tmp_path: Path, countries: list[str]
) -> None:
    """A buyer's client retrying ``pay`` at once (double taps, retries on timeouts): every
    answer is 202 and each order gets exactly one payment job, one attempt, one audit row."""
    from integrations.models import Job

    world = OrderWorld("AR")
    buyer = principal(world.buyer)
    ids = [
        services.order_create(
            actor=buyer, listing_id=world.listing.pk, recipient_name="Ana"
        ).order.pk
        for _ in range(4)
    ]
    token = accounts.session_start(user=world.buyer, method="password").access
    env = {
        "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
        "WEB_CONCURRENCY": "1",
        "ASGI_THREADS": "8",
        "DB_POOL_MAX_SIZE": "8",
        "DB_POOL_TIMEOUT_SECONDS": "30",
        "THROTTLE_USER": "100000/min",
        "SANDBOX_WEBHOOKS": "false",
        "PGAPPNAME": f"aventide-asgi-pay-{os.getpid()}",
    }
    with live_server(tmp_path, env) as server:

        def pay(index: int) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                response = http.post(
                    f"/api/orders/{ids[index % len(ids)]}/pay",
                    headers={"Authorization": f"Bearer {token}"},
                )
                return response.status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = Counter(pool.map(pay, range(4 * len(ids))))
        log = server.log()
    assert statuses == {202: 4 * len(ids)}, log[-3000:]
    for order_id in ids:
        order = Order.objects.get(pk=order_id)
        assert order.payment_attempts == 1
        jobs = Job.objects.filter(idempotency_key__startswith=f"order:{order_id}:payment:")
        assert list(jobs.values_list("idempotency_key", flat=True)) == [
            f"order:{order_id}:payment:1"
        ]
        requested = Event.objects.filter(action="order.payment_requested", target_id=str(order_id))
        assert requested.count() == 1
    assert "Traceback" not in log
