"""Each row lock of the ledger services is needed: real concurrency on PostgreSQL.

The races are made deterministic by ``tests.concurrency.race`` (a holder thread keeps the
contended row locked until every worker waits on a lock). The assertions are on the
committed rows (balances, entries, transactions) and on the error codes.

Every service call lives in the small helpers below (a rename is a one-line change here).
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from django.db import connection

from aventide.core.principal import SYSTEM
from aventide.ledger import selectors, services
from aventide.ledger.models import AccountBalance, Entry, OrderSnapshot, Transaction
from aventide.ledger.services import EntrySpec
from tests.concurrency import WAIT, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDER = 42
ESCROW = f"escrow:order:{ORDER}"


# --- the service calls (one place each) -----------------------------------------------------


def _capture(amount: int = 1000, key: str = f"order:{ORDER}:capture") -> int:
    return services.escrow_capture(
        actor=SYSTEM,
        order_id=ORDER,
        country_code="AR",
        buyer_id=1,
        seller_id=2,
        amount_minor=amount,
        currency="ARS",
        idempotency_key=key,
    ).pk


def _refund(amount: int, key: str) -> int:
    txn = services.escrow_refund(
        actor=SYSTEM, order_id=ORDER, amount_minor=amount, idempotency_key=key
    )
    assert txn is not None  # an explicit amount always posts or raises
    return txn.pk


def _credit(amount: int, key: str) -> int:
    return services.escrow_credit(
        actor=SYSTEM, order_id=ORDER, amount_minor=amount, idempotency_key=key
    ).pk


def _release(key: str) -> int:
    return services.escrow_release(actor=SYSTEM, order_id=ORDER, idempotency_key=key).pk


def _post(amount: int, key: str) -> int:
    """Move ``amount`` into (positive) or out of (negative) the order's escrow."""
    other = "buyer_payments:1" if amount > 0 else "platform_fee"
    return services.ledger_post(
        actor=SYSTEM,
        entries=[EntrySpec(ESCROW, amount), EntrySpec(other, -amount)],
        idempotency_key=key,
        reason="adjustment",
        currency="ARS",
        order_id=ORDER,
    ).pk


ESCROW_ROW = "SELECT 1 FROM ledger_accountbalance WHERE account = %s FOR UPDATE"


def _assert_ledger_consistent() -> None:
    for row in AccountBalance.objects.all():
        entries = Entry.objects.filter(account=row.account, currency=row.currency)
        assert row.balance_minor == sum(e.amount_minor for e in entries), row.account
        assert row.balance_minor >= 0
    assert selectors.ledger_total() == 0


# --- ledger ---------------------------------------------------------------------------------


def test_ledger_refund_credit_and_release_of_one_order_are_serialized(
    countries: list[str],
) -> None:
    """Concurrent refund + credit + release (each sent twice) of one paid order.

    Serialized, every outcome is one of a serial execution: release always succeeds (it
    takes what is left), a refund or credit after it is MONEY_CAP_EXCEEDED, a repeat returns
    the first transaction. Never more out than captured, never a double posting, and never
    ESCROW_INSUFFICIENT (the symptom of a decision taken on a stale balance).
    """
    _capture(1000)
    calls = [
        lambda: _refund(400, "r1"),
        lambda: _credit(400, "c1"),
        lambda: _release("rel"),
        lambda: _refund(400, "r1"),
        lambda: _credit(400, "c1"),
        lambda: _release("rel"),
    ]
    results = race(calls, ESCROW_ROW, [ESCROW])
    refused = [r for r in results if isinstance(r, str)]
    assert set(refused) <= {"MONEY_CAP_EXCEEDED"}, results
    assert isinstance(results[2], int) and results[2] == results[5]  # release: once, same txn
    for first, again in ((0, 3), (1, 4)):  # a repeated key: the same outcome
        assert results[first] == results[again]
    money = selectors.order_money(ORDER)
    assert money.moved_out == money.captured == 1000
    assert money.escrow == 0
    assert Transaction.objects.count() == 1 + len({r for r in results if isinstance(r, int)})
    assert Transaction.objects.filter(reason="release").count() == 1
    _assert_ledger_consistent()


def test_ledger_concurrent_postings_into_one_escrow_lose_no_update() -> None:
    _post(1000, "seed")
    calls = [partial(_post, 100, f"in-{i}") for i in range(5)]
    results = race(calls, ESCROW_ROW, [ESCROW])
    assert all(isinstance(r, int) for r in results), results
    assert selectors.balance_of(ESCROW, "ARS") == 1500
    _assert_ledger_consistent()


def test_ledger_concurrent_withdrawals_never_overdraw_one_escrow() -> None:
    _post(1000, "seed")
    calls = [partial(_post, -300, f"out-{i}") for i in range(5)]
    results = race(calls, ESCROW_ROW, [ESCROW])
    assert sorted(map(str, results)).count("ESCROW_INSUFFICIENT") == 2, results
    assert sum(isinstance(r, int) for r in results) == 3
    assert selectors.balance_of(ESCROW, "ARS") == 100
    _assert_ledger_consistent()


def test_ledger_concurrent_captures_of_one_order_post_once(countries: list[str]) -> None:
    """Four webhook deliveries of one payment at once: one transaction, one snapshot."""
    barrier = threading.Barrier(4)
    outcomes: list[Any] = [None] * 4

    def capture(i: int) -> None:
        try:
            barrier.wait(WAIT)
            outcomes[i] = _capture(1000)
        except Exception as exc:  # noqa: BLE001 -- asserted below
            outcomes[i] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=capture, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert len(set(outcomes)) == 1 and isinstance(outcomes[0], int), outcomes
    assert OrderSnapshot.objects.filter(order_id=ORDER).count() == 1
    assert Transaction.objects.count() == 1
    assert selectors.balance_of(ESCROW, "ARS") == 1000
    _assert_ledger_consistent()


@pytest.mark.parametrize("same_content", [True, False])
def test_ledger_same_key_racing_without_an_escrow_posts_once(same_content: bool) -> None:
    """Postings that lock no escrow (adjustments) rely on the key's UNIQUE index: the second
    insert waits for the first to commit, then does nothing -- and answers with the first
    posting (same content) or ``IDEMPOTENCY_KEY_REUSED`` (other content)."""
    first_posted = threading.Event()
    release_first = threading.Event()
    results: dict[str, Any] = {}
    entries = [EntrySpec("buyer_payments:1", -100), EntrySpec("seller_payable:2", 100)]
    other = entries if same_content else [EntrySpec("buyer_payments:1", -99),
                                          EntrySpec("seller_payable:2", 99)]  # fmt: skip

    def post(name: str, specs: list[EntrySpec], hold: bool) -> None:
        from django.db import transaction

        try:
            with transaction.atomic():
                txn = services.ledger_post(
                    actor=SYSTEM,
                    entries=specs,
                    idempotency_key="adjust:race",
                    reason="adjustment",
                    currency="ARS",
                )
                if hold:
                    first_posted.set()
                    release_first.wait(WAIT)
            results[name] = txn.pk
        except Exception as exc:  # noqa: BLE001 -- the test inspects what each thread got
            results[name] = getattr(exc, "code", repr(exc))
        finally:
            connection.close()

    first = threading.Thread(target=post, args=("first", entries, True))
    first.start()
    assert first_posted.wait(WAIT)
    second = threading.Thread(target=post, args=("second", other, False))
    second.start()
    second.join(0.5)  # blocked on the first's uncommitted key
    assert second.is_alive()
    release_first.set()
    first.join(WAIT)
    second.join(WAIT)
    assert Transaction.objects.filter(idempotency_key="adjust:race").count() == 1
    pk = Transaction.objects.get(idempotency_key="adjust:race").pk
    assert results["first"] == pk
    assert results["second"] == (pk if same_content else "IDEMPOTENCY_KEY_REUSED")
    assert Entry.objects.count() == 2
