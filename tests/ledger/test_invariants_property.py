"""Property: no sequence of capture/refund/release/credit breaks the ledger's invariants."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM
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


class _Model:
    """What the ledger must answer, computed independently of it (per order)."""

    def __init__(self) -> None:
        self.captured: dict[int, int] = {}
        self.moved: dict[int, int] = {}
        self.keys: dict[str, int] = {}  # idempotency key -> transaction id

    def expect(self, kind: str, order_id: int, amount: int, key: str) -> str:
        """The error code the move must raise, or "ok"."""
        captured = self.captured.get(order_id)
        if kind == "capture":
            if captured is None or captured == amount:
                return "ok"
            return "IDEMPOTENCY_KEY_REUSED"
        if kind in ("refund", "credit") and (type(amount) is not int or amount <= 0):
            return "LEDGER_INVALID_POSTING"
        if captured is None:
            return "ORDER_SNAPSHOT_MISSING"
        if key in self.keys:
            return "ok"  # a retry returns the first transaction
        left = captured - self.moved.get(order_id, 0)
        if kind == "release":
            return "ok" if left > 0 else "ESCROW_INSUFFICIENT"
        return "ok" if amount <= left else "MONEY_CAP_EXCEEDED"

    def apply(self, kind: str, order_id: int, amount: int, key: str, txn_id: int) -> None:
        if key in self.keys:
            assert txn_id == self.keys[key], "a retried key must return the first transaction"
            return
        self.keys[key] = txn_id
        if kind == "capture":
            self.captured[order_id] = amount
            return
        left = self.captured[order_id] - self.moved.get(order_id, 0)
        moved = left if kind == "release" else amount
        self.moved[order_id] = self.moved.get(order_id, 0) + moved


def _assert_invariants(order_ids: list[int], model: _Model) -> None:
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
        assert money.captured == model.captured.get(order_id, 0)
        assert money.moved_out == model.moved.get(order_id, 0)
        assert money.released + money.refunded + money.credited <= money.captured
        assert money.escrow == money.captured - money.moved_out
    assert selectors.ledger_total() == 0


def _move(kind: str, order_id: int, amount: int, key: str) -> Transaction:
    """The ledger service of each move (one place: a rename is a one-line change)."""
    if kind == "capture":
        return services.escrow_capture(
            actor=SYSTEM,
            order_id=order_id,
            country_code="AR",
            buyer_id=1,
            seller_id=2,
            amount_minor=amount,
            currency="ARS",
            idempotency_key=key,
        )
    if kind == "release":
        return services.escrow_release(actor=SYSTEM, order_id=order_id, idempotency_key=key)
    if kind == "refund":
        txn = services.escrow_refund(
            actor=SYSTEM, order_id=order_id, amount_minor=amount, idempotency_key=key
        )
        assert txn is not None  # an explicit amount always posts or raises
        return txn
    return services.escrow_credit(
        actor=SYSTEM, order_id=order_id, amount_minor=amount, idempotency_key=key
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_money_sequences_keep_every_invariant(countries, ops) -> None:
    """Every move either does exactly what the model says or is refused with the code the
    model predicts (a refusal is asserted, never swallowed); the invariants hold after each."""
    orders = [next(_order_ids) for _ in range(3)]
    model = _Model()
    history: list[tuple[str, int, int, str]] = []
    for step, (kind, which, amount) in enumerate(ops):
        order_id = orders[which]
        if kind == "retry":
            if not history:
                continue
            kind, order_id, amount, key = history[amount % len(history)]
        elif kind == "capture":
            key = f"prop:{order_id}:capture"
        else:
            key = f"prop:{order_id}:{kind}:{step}"
        expected = model.expect(kind, order_id, amount, key)
        before = Transaction.objects.count()
        try:
            txn: Transaction | None = _move(kind, order_id, amount, key)
            outcome = "ok"
        except DomainError as exc:
            txn, outcome = None, exc.code
        assert outcome == expected, (kind, order_id, amount, key)
        if txn is None:
            assert Transaction.objects.count() == before, "a refused move posted something"
        else:
            model.apply(kind, order_id, amount, key, txn.pk)
            history.append((kind, order_id, amount, key))
        _assert_invariants(orders, model)
