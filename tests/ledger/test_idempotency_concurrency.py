"""50 concurrent posts with one idempotency key make exactly one transaction (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from aventide.core.principal import SYSTEM
from aventide.ledger import selectors, services
from aventide.ledger.models import Entry, Transaction
from aventide.ledger.services import EntrySpec

THREADS = 50


def _run_concurrently(fn, n: int) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn()
        except Exception as exc:  # noqa: BLE001 -- collected and asserted below
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_post_same_key_from_50_threads_creates_one_transaction() -> None:
    def post() -> int:
        txn = services.ledger_post(
            actor=SYSTEM,
            entries=[EntrySpec("buyer_payments:1", -500), EntrySpec("escrow:order:1", 500)],
            idempotency_key="order:1:capture",
            reason="capture",
            currency="ARS",
            order_id=1,
        )
        return txn.pk

    results = _run_concurrently(post, THREADS)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert len(set(results)) == 1
    assert Transaction.objects.count() == 1
    assert Entry.objects.count() == 2
    assert selectors.balance_of("escrow:order:1", "ARS") == 500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_overdraw_the_escrow(countries) -> None:
    services.escrow_capture(
        actor=SYSTEM,
        order_id=5,
        country_code="AR",
        buyer_id=1,
        seller_id=2,
        amount_minor=1000,
        currency="ARS",
        idempotency_key="order:5:capture",
    )
    counter = iter(range(1000))
    lock = threading.Lock()

    def refund() -> int:
        with lock:
            n = next(counter)
        txn = services.escrow_refund(
            actor=SYSTEM, order_id=5, amount_minor=300, idempotency_key=f"r{n}"
        )
        assert txn is not None
        return txn.pk

    results = _run_concurrently(refund, 10)
    succeeded = [r for r in results if isinstance(r, int)]
    assert len(succeeded) == 3  # 3 x 300 fit in 1000; the 4th would overdraw
    money = selectors.order_money(5)
    assert (money.refunded, money.escrow) == (900, 100)
    assert selectors.ledger_total() == 0
