"""Property: no sequence of capture/refund/release/credit breaks the ledger's invariants."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aventide.core.errors import DomainError
from aventide.ledger import selectors, services
from aventide.ledger.models import AccountBalance, Entry, Transaction

pytestmark = pytest.mark.django_db

_order_ids = itertools.count(10_000)

operation = st.one_of(
    st.tuples(st.just("capture"), st.integers(0, 2), st.integers(1, 50_000)),
    st.tuples(st.just("refund"), st.integers(0, 2), st.integers(-5, 60_000)),
    st.tuples(st.just("credit"), st.integers(0, 2), st.integers(-5, 60_000)),
    st.tuples(st.just("release"), st.integers(0, 2), st.just(0)),
    # a retry of an earlier step with the same idempotency key
    st.tuples(st.just("retry"), st.integers(0, 2), st.integers(0, 30)),
)


def _assert_invariants(order_ids: list[int]) -> None:
    for txn in Transaction.objects.prefetch_related("entries"):
        entries = list(txn.entries.all())
        assert sum(e.amount_minor for e in entries) == 0
        assert {e.currency for e in entries} == {txn.currency}
    assert not AccountBalance.objects.filter(
        account__startswith="escrow:", balance_minor__lt=0
    ).exists()
    for row in AccountBalance.objects.all():  # the locked row always equals its entries' sum
        rows = Entry.objects.filter(account=row.account, currency=row.currency)
        assert row.balance_minor == sum(e.amount_minor for e in rows)
    for order_id in order_ids:
        money = selectors.order_money(order_id)
        assert money.released + money.refunded + money.credited <= money.captured
        assert money.escrow == money.captured - money.moved_out
    assert selectors.ledger_total() == 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_money_sequences_keep_every_invariant(countries, ops) -> None:
    orders = [next(_order_ids) for _ in range(3)]
    history: list[tuple[str, int, int, str]] = []
    for step, (kind, which, amount) in enumerate(ops):
        order_id = orders[which]
        if kind == "retry":
            if not history:
                continue
            kind, order_id, amount, key = history[amount % len(history)]
        else:
            key = f"prop:{order_id}:{kind}:{step}"
        try:
            if kind == "capture":
                services.capture(
                    order_id=order_id,
                    country_code="AR",
                    buyer_id=1,
                    seller_id=2,
                    amount_minor=amount,
                    currency="ARS",
                    idempotency_key=f"prop:{order_id}:capture",
                )
            elif kind == "release":
                services.release(order_id=order_id, idempotency_key=key)
            elif kind == "refund":
                services.refund(order_id=order_id, amount_minor=amount, idempotency_key=key)
            else:
                services.credit(order_id=order_id, amount_minor=amount, idempotency_key=key)
            history.append((kind, order_id, amount, key))
        except DomainError:
            pass  # refused moves are fine; what matters is that nothing broke
        _assert_invariants(orders)
