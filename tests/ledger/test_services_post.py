"""ledger.post: balanced, single-currency, integer postings, exactly once per key."""

from __future__ import annotations

import pytest

from audit.selectors import events_for_target
from aventide.core.principal import SYSTEM
from aventide.ledger import selectors, services
from aventide.ledger.errors import (
    EscrowInsufficient,
    IdempotencyKeyReused,
    LedgerInvariantViolation,
    MoneyCapExceeded,
    SnapshotMissing,
)
from aventide.ledger.models import Entry, OrderSnapshot, Transaction
from aventide.ledger.services import EntrySpec

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=["folded", "one-by-one"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on both write paths of a movement: PostgreSQL's one statement
    (data-modifying CTEs) and the statement-by-statement path other databases take."""
    if request.param == "one-by-one":
        monkeypatch.setattr(services, "_folds_writes", lambda: False)
    return str(request.param)


def _pay_in(key: str = "k1", amount: int = 1000) -> Transaction:
    return services.ledger_post(
        actor=SYSTEM,
        entries=[EntrySpec("buyer_payments:1", -amount), EntrySpec("escrow:order:1", amount)],
        idempotency_key=key,
        reason="capture",
        currency="ARS",
        order_id=1,
        country_code="AR",
    )


def test_post_balanced_transaction_updates_balances_and_audits() -> None:
    txn = _pay_in()
    assert [(e.account, e.amount_minor) for e in txn.entries.all()] == [
        ("buyer_payments:1", -1000),
        ("escrow:order:1", 1000),
    ]
    assert selectors.balance_of("escrow:order:1", "ARS") == 1000
    assert selectors.balance_of("buyer_payments:1", "ARS") == -1000
    (event,) = events_for_target("order", "1")
    assert event.action == "ledger.transaction_posted"
    assert event.data["transactionId"] == txn.pk
    assert event.country_code == "AR"


def test_post_repeated_key_returns_the_first_transaction() -> None:
    first = _pay_in()
    again = _pay_in()
    assert again.pk == first.pk
    assert Transaction.objects.count() == 1
    assert selectors.balance_of("escrow:order:1", "ARS") == 1000


def test_post_same_key_other_content_is_idempotency_key_reused() -> None:
    _pay_in(amount=1000)
    with pytest.raises(IdempotencyKeyReused) as exc:
        _pay_in(amount=999)
    assert exc.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert exc.value.status == 422


@pytest.mark.parametrize(
    "entries",
    [
        [EntrySpec("a", 10), EntrySpec("b", -9)],  # does not sum to zero
        [EntrySpec("a", 10)],  # a single entry
        [EntrySpec("a", 0), EntrySpec("b", 0)],  # zero amounts
        [EntrySpec("a", 10.0), EntrySpec("b", -10.0)],  # type: ignore[arg-type]  # floats refused
        [EntrySpec("a", True), EntrySpec("b", -1)],  # booleans are not amounts
    ],
    ids=["unbalanced", "single", "zero", "float", "bool"],
)
def test_post_refuses_invalid_entries(entries: list[EntrySpec]) -> None:
    with pytest.raises(LedgerInvariantViolation):
        services.ledger_post(
            actor=SYSTEM, entries=entries, idempotency_key="bad", reason="x", currency="ARS"
        )
    assert Entry.objects.count() == 0


def test_post_refuses_an_escrow_going_negative() -> None:
    with pytest.raises(EscrowInsufficient):
        services.ledger_post(
            actor=SYSTEM,
            entries=[EntrySpec("escrow:order:9", -1), EntrySpec("platform_fee", 1)],
            idempotency_key="overdraw",
            reason="release",
            currency="ARS",
            order_id=9,
        )
    assert Transaction.objects.count() == 0


def test_split_fee_rounds_the_fee_down() -> None:
    assert services.split_fee(999, 1000) == (99, 900)
    assert services.split_fee(1, 1100) == (0, 1)
    assert services.split_fee(10_000, 1000) == (1000, 9000)


def _capture(countries: list[str], amount: int = 10_001) -> Transaction:
    return services.escrow_capture(
        actor=SYSTEM,
        order_id=7,
        country_code="AR",
        buyer_id=3,
        seller_id=4,
        amount_minor=amount,
        currency="ARS",
        idempotency_key="order:7:capture",
    )


def test_capture_freezes_the_snapshot_with_the_country_fee(countries: list[str]) -> None:
    _capture(countries)
    snapshot = OrderSnapshot.objects.get(order_id=7)
    assert (snapshot.captured_minor, snapshot.fee_bps) == (10_001, 1000)
    assert (snapshot.fee_minor, snapshot.seller_minor) == (1000, 9001)


def test_release_pays_seller_and_fee_exactly_once(countries: list[str]) -> None:
    _capture(countries)
    first = services.escrow_release(actor=SYSTEM, order_id=7, idempotency_key="order:7:release")
    again = services.escrow_release(actor=SYSTEM, order_id=7, idempotency_key="order:7:release")
    assert again.pk == first.pk
    assert selectors.balance_of("seller_payable:4", "ARS") == 9001
    assert selectors.balance_of("platform_fee", "ARS") == 1000
    assert selectors.balance_of("escrow:order:7", "ARS") == 0
    money = selectors.order_money(7)
    assert (money.captured, money.released, money.escrow) == (10_001, 10_001, 0)


def test_refund_and_credit_cannot_exceed_what_was_captured(countries: list[str]) -> None:
    _capture(countries, amount=1000)
    services.escrow_refund(actor=SYSTEM, order_id=7, amount_minor=600, idempotency_key="r1")
    services.escrow_credit(actor=SYSTEM, order_id=7, amount_minor=300, idempotency_key="c1")
    with pytest.raises(MoneyCapExceeded):
        services.escrow_refund(actor=SYSTEM, order_id=7, amount_minor=101, idempotency_key="r2")
    money = selectors.order_money(7)
    assert (money.refunded, money.credited, money.escrow) == (600, 300, 100)
    services.escrow_release(actor=SYSTEM, order_id=7, idempotency_key="rel")
    assert selectors.order_money(7).moved_out == 1000
    assert selectors.ledger_total() == 0


def test_money_moves_need_a_captured_order() -> None:
    with pytest.raises(SnapshotMissing):
        services.escrow_refund(actor=SYSTEM, order_id=404, amount_minor=1, idempotency_key="r")


def test_only_escrows_keep_a_locked_balance_row(countries: list[str]) -> None:
    from aventide.ledger.models import AccountBalance

    _capture(countries)
    services.escrow_release(actor=SYSTEM, order_id=7, idempotency_key="order:7:release")
    assert set(AccountBalance.objects.values_list("account", flat=True)) == {"escrow:order:7"}
    assert selectors.balance_of("platform_fee", "ARS") == 1000  # the sum of its entries


def test_an_escrow_row_without_a_snapshot_is_snapshot_missing() -> None:
    _pay_in()  # a plain posting: escrow:order:1 has a balance row but no snapshot
    with pytest.raises(SnapshotMissing):
        services.escrow_refund(actor=SYSTEM, order_id=1, idempotency_key="r")
    assert selectors.balance_of("escrow:order:1", "ARS") == 1000


def test_a_refund_writes_its_rows_and_audit_row_in_order(countries: list[str]) -> None:
    from aventide.ledger.models import AccountBalance

    _capture(countries, amount=1000)
    txn = services.escrow_refund(actor=SYSTEM, order_id=7, idempotency_key="order:7:refund")
    assert txn is not None
    stored = Transaction.objects.get(pk=txn.pk)
    assert (stored.idempotency_key, stored.reason) == ("order:7:refund", "refund")
    assert stored.order_id == 7
    assert (stored.country_code, stored.currency) == ("AR", "ARS")
    assert stored.fingerprint == txn.fingerprint
    entries = list(Entry.objects.filter(txn=stored).order_by("id"))
    assert [(e.account, e.amount_minor, e.currency) for e in entries] == [
        ("escrow:order:7", -1000, "ARS"),
        ("buyer_refund:3", 1000, "ARS"),
    ]
    escrow = AccountBalance.objects.get(account="escrow:order:7")
    assert escrow.balance_minor == 0
    assert escrow.snapshot == OrderSnapshot.objects.get(order_id=7)
    _capture_event, refund_event = events_for_target("order", "7")
    assert refund_event.data == {
        "transactionId": txn.pk,
        "reason": "refund",
        "currency": "ARS",
        "idempotencyKey": "order:7:refund",
        "entries": [["escrow:order:7", -1000], ["buyer_refund:3", 1000]],
    }
    assert refund_event.digest == refund_event.compute_digest()
    # nothing left: a second key refunds nothing; the first key returns the first refund
    assert services.escrow_refund(actor=SYSTEM, order_id=7, idempotency_key="other") is None
    again = services.escrow_refund(actor=SYSTEM, order_id=7, idempotency_key="order:7:refund")
    assert again is not None and again.pk == txn.pk
