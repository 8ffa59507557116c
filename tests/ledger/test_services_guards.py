"""Ledger services refuse what can never be valid, and say so with a stable code.

Each test asserts the refusal (error code) AND that nothing moved (no transaction, balances
as before), plus the boundary value that is still accepted. The service calls live in the
small helpers below so a rename of the ledger services is a one-line change here.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from aventide.core.errors import DomainError
from aventide.core.principal import SYSTEM
from aventide.ledger import selectors, services
from aventide.ledger.models import OrderSnapshot, Transaction
from aventide.ledger.services import EntrySpec

pytestmark = pytest.mark.django_db

ORDER = 71
BUYER, SELLER = 5, 6


# --- the service calls (one place each) -----------------------------------------------------


def _post(**overrides: Any) -> Transaction:
    kwargs: dict[str, Any] = {
        "entries": [EntrySpec("buyer_payments:1", -100), EntrySpec("seller_payable:2", 100)],
        "idempotency_key": "guards:1",
        "reason": "adjustment",
        "currency": "ARS",
    }
    kwargs.update(overrides)
    return services.ledger_post(actor=SYSTEM, **kwargs)


def _capture(amount: int = 1000, key: str = f"order:{ORDER}:capture", **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {
        "order_id": ORDER,
        "country_code": "AR",
        "buyer_id": BUYER,
        "seller_id": SELLER,
        "amount_minor": amount,
        "currency": "ARS",
        "idempotency_key": key,
    }
    kwargs.update(overrides)
    return services.escrow_capture(actor=SYSTEM, **kwargs)


def _refund(amount: Any, key: str) -> Transaction:
    txn = services.escrow_refund(
        actor=SYSTEM, order_id=ORDER, amount_minor=amount, idempotency_key=key
    )
    assert txn is not None  # an explicit amount always posts or raises
    return txn


def _credit(amount: Any, key: str) -> Transaction:
    return services.escrow_credit(
        actor=SYSTEM, order_id=ORDER, amount_minor=amount, idempotency_key=key
    )


def _release(key: str = f"order:{ORDER}:release") -> Transaction:
    return services.escrow_release(actor=SYSTEM, order_id=ORDER, idempotency_key=key)


def _refund_all(key: str = f"order:{ORDER}:cancel-refund", order_id: int = ORDER) -> Any:
    return services.escrow_refund(actor=SYSTEM, order_id=order_id, idempotency_key=key)


def _split_fee(amount: int, bps: int) -> tuple[int, int]:
    return services.split_fee(amount, bps)


def _refused(call: Any, *args: Any, **kwargs: Any) -> str:
    """Run ``call`` expecting a DomainError; return its code."""
    with pytest.raises(DomainError) as exc:
        call(*args, **kwargs)
    return exc.value.code


def _money() -> tuple[int, int, int, int, int]:
    m = selectors.order_money(ORDER)
    return (m.captured, m.released, m.refunded, m.credited, m.escrow)


# --- post: input validation -----------------------------------------------------------------


def test_ledger_post_refuses_an_empty_posting() -> None:
    assert _refused(_post, entries=[]) == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()


def test_ledger_post_refuses_a_missing_or_oversized_idempotency_key() -> None:
    assert _refused(_post, idempotency_key="") == "LEDGER_INVALID_POSTING"
    assert _refused(_post, idempotency_key="k" * 201) == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()
    assert _post(idempotency_key="k" * 200).idempotency_key == "k" * 200  # the limit itself


def test_ledger_post_refuses_a_posting_without_reason() -> None:
    assert _refused(_post, reason="") == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()


def test_ledger_post_refuses_an_oversized_reason_and_accepts_the_limit() -> None:
    assert _refused(_post, reason="r" * 65) == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()
    assert _post(reason="r" * 64).reason == "r" * 64  # the limit itself


@pytest.mark.parametrize("currency", ["", "AR", "ARSX", "ars", "Ars"])
def test_ledger_post_refuses_a_currency_that_is_not_an_iso_code(currency: str) -> None:
    assert _refused(_post, currency=currency) == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()


def test_ledger_post_refuses_empty_or_oversized_account_names() -> None:
    for account in ("", "a" * 121):
        entries = [EntrySpec(account, -100), EntrySpec("seller_payable:2", 100)]
        assert _refused(_post, entries=entries) == "LEDGER_INVALID_POSTING"
    assert not Transaction.objects.exists()
    longest = "a" * 120  # the limit itself is a valid account name
    txn = _post(entries=[EntrySpec(longest, -100), EntrySpec("seller_payable:2", 100)])
    assert sorted(txn.entries.values_list("account", flat=True)) == sorted(
        [longest, "seller_payable:2"]
    )


def test_ledger_post_accepts_a_balanced_posting_of_three_entries() -> None:
    txn = _post(
        entries=[
            EntrySpec("buyer_payments:1", -100),
            EntrySpec("seller_payable:2", 90),
            EntrySpec("platform_fee", 10),
        ]
    )
    assert txn.entries.count() == 3
    assert selectors.balance_of("platform_fee", "ARS") == 10
    assert selectors.ledger_total() == 0


def test_ledger_post_fingerprint_is_stable_across_versions() -> None:
    """The fingerprint is stored: a retry after a deploy must compute the same one, or the
    retried key is refused as IDEMPOTENCY_KEY_REUSED. Pinned as canonical JSON (sorted keys,
    sorted entries, no spaces) hashed with SHA-256, computed here independently."""
    entries = [EntrySpec("seller_payable:2", 100), EntrySpec("buyer_payments:1", -100)]
    txn = _post(entries=entries, order_id=7, reason="capture")
    canonical = (
        '{"currency":"ARS","entries":[["buyer_payments:1",-100],["seller_payable:2",100]],'
        '"order":7,"reason":"capture"}'
    )
    assert txn.fingerprint == hashlib.sha256(canonical.encode()).hexdigest()


# --- the fee split --------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "bps"), [(-1, 1000), (100, -1), (100, 10_001)])
def test_ledger_split_fee_refuses_negative_amounts_and_bps_outside_0_to_10000(
    amount: int, bps: int
) -> None:
    assert _refused(_split_fee, amount, bps) == "LEDGER_INVALID_POSTING"


def test_ledger_split_fee_accepts_the_bounds() -> None:
    assert _split_fee(1234, 0) == (0, 1234)
    assert _split_fee(1234, 10_000) == (1234, 0)
    assert _split_fee(0, 1000) == (0, 0)
    assert _split_fee(1999, 1000) == (199, 1800)  # the fee rounds down
    assert _split_fee(9_999, 10_000) == (9_999, 0)  # never more fee than the amount
    assert _split_fee(123_456_789, 1_234) == (15_234_567, 108_222_222)  # bps of 10 000


# --- capture --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1])
def test_ledger_capture_refuses_a_non_positive_amount(countries: list[str], amount: int) -> None:
    assert _refused(_capture, amount) == "LEDGER_INVALID_POSTING"
    assert not OrderSnapshot.objects.filter(order_id=ORDER).exists()
    assert not Transaction.objects.exists()


def test_ledger_capture_refuses_another_amount_for_a_captured_order(
    countries: list[str],
) -> None:
    first = _capture(1000)
    # another amount in the same currency, under another key: refused, nothing posted
    assert _refused(_capture, 999, key="psp-retry-2") == "IDEMPOTENCY_KEY_REUSED"
    assert _refused(_capture, 1001, key="psp-retry-3") == "IDEMPOTENCY_KEY_REUSED"
    # the same amount in another currency: refused too
    assert _refused(_capture, 1000, key="psp-retry-4", currency="MXN") == "IDEMPOTENCY_KEY_REUSED"
    assert list(Transaction.objects.values_list("pk", flat=True)) == [first.pk]
    assert _money() == (1000, 0, 0, 0, 1000)
    snapshot = OrderSnapshot.objects.get(order_id=ORDER)
    assert (snapshot.captured_minor, snapshot.currency) == (1000, "ARS")
    # the payments team reads why: the amount differs from the captured one (same key too)
    for key in ("psp-retry-5", f"order:{ORDER}:capture"):
        with pytest.raises(DomainError, match="another amount") as exc:
            _capture(999, key=key)
        assert exc.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_ledger_capture_repeated_returns_the_first_transaction(countries: list[str]) -> None:
    first = _capture(1000)
    assert _capture(1000).pk == first.pk
    assert _money() == (1000, 0, 0, 0, 1000)


# --- refund and credit ----------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1, -400, 1.5, True])
@pytest.mark.parametrize("move", ["refund", "credit"])
def test_ledger_refund_and_credit_refuse_amounts_that_are_not_positive_integers(
    countries: list[str], move: str, amount: Any
) -> None:
    _capture(1000)
    call = _refund if move == "refund" else _credit
    assert _refused(call, amount, f"{move}:bad") == "LEDGER_INVALID_POSTING"
    assert Transaction.objects.count() == 1  # the capture only
    assert _money() == (1000, 0, 0, 0, 1000)
    assert selectors.balance_of(f"buyer_{move}:{BUYER}", "ARS") == 0


def test_ledger_refund_and_credit_may_move_exactly_what_was_captured(
    countries: list[str],
) -> None:
    _capture(1000)
    _refund(600, "r1")
    _credit(400, "c1")  # 600 + 400 == captured: allowed
    assert _money() == (1000, 0, 600, 400, 0)
    assert _refused(_refund, 1, "r2") == "MONEY_CAP_EXCEEDED"
    assert _refused(_credit, 1, "c2") == "MONEY_CAP_EXCEEDED"
    assert _money() == (1000, 0, 600, 400, 0)
    assert selectors.balance_of(f"buyer_refund:{BUYER}", "ARS") == 600
    assert selectors.balance_of(f"buyer_credit:{BUYER}", "ARS") == 400


def test_ledger_refund_repeated_key_returns_the_first_transaction_even_at_the_cap(
    countries: list[str],
) -> None:
    _capture(1000)
    first = _refund(1000, "r-all")
    assert _refund(1000, "r-all").pk == first.pk  # a retry, not a second refund
    assert _money() == (1000, 0, 1000, 0, 0)


@pytest.mark.parametrize("move", ["refund", "credit", "release"])
def test_ledger_moves_of_an_order_never_captured_are_refused(move: str) -> None:
    calls = {
        "refund": lambda: _refund(10, "r"),
        "credit": lambda: _credit(10, "c"),
        "release": lambda: _release("rel"),
    }
    assert _refused(calls[move]) == "ORDER_SNAPSHOT_MISSING"
    assert not Transaction.objects.exists()


# --- release and refund_all -----------------------------------------------------------------


def test_ledger_release_of_an_emptied_escrow_is_refused(countries: list[str]) -> None:
    _capture(1000)
    _refund(1000, "r-all")
    assert _refused(_release) == "ESCROW_INSUFFICIENT"
    assert _money() == (1000, 0, 1000, 0, 0)
    assert selectors.balance_of(f"seller_payable:{SELLER}", "ARS") == 0


def test_ledger_release_pays_what_is_left_after_a_partial_refund(countries: list[str]) -> None:
    _capture(1000)
    _refund(400, "r1")
    txn = _release()
    assert sorted(txn.entries.values_list("account", "amount_minor")) == sorted(
        [(f"escrow:order:{ORDER}", -600), (f"seller_payable:{SELLER}", 540), ("platform_fee", 60)]
    )
    assert _money() == (1000, 600, 400, 0, 0)


def test_ledger_refund_all_without_a_capture_is_refused_and_an_empty_escrow_does_nothing(
    countries: list[str],
) -> None:
    assert _refused(_refund_all, order_id=404) == "ORDER_SNAPSHOT_MISSING"
    _capture(1000)
    _release()
    assert _refund_all() is None
    assert _money() == (1000, 1000, 0, 0, 0)
    assert Transaction.objects.count() == 2


def test_ledger_release_pays_out_even_a_last_unit(countries: list[str]) -> None:
    _capture(1000)
    _refund(999, "r1")
    txn = _release()
    assert sorted(txn.entries.values_list("account", "amount_minor")) == sorted(
        [(f"escrow:order:{ORDER}", -1), (f"seller_payable:{SELLER}", 1)]  # fee rounds to 0
    )
    assert _money() == (1000, 1, 999, 0, 0)


def test_ledger_refund_all_refunds_even_a_last_unit(countries: list[str]) -> None:
    _capture(1000)
    _refund(999, "r1")
    txn = _refund_all()
    assert txn is not None
    assert _money() == (1000, 0, 1000, 0, 0)


def test_ledger_refund_all_refunds_the_rest_once(countries: list[str]) -> None:
    _capture(1000)
    _credit(250, "c1")
    txn = _refund_all()
    assert txn is not None and txn.reason == "refund"
    assert _refund_all().pk == txn.pk  # retried with the same key: the same transaction
    assert _money() == (1000, 0, 750, 250, 0)
    assert selectors.balance_of(f"buyer_refund:{BUYER}", "ARS") == 750


def test_ledger_capture_happens_once_per_order_whatever_the_key(countries: list[str]) -> None:
    first = _capture(1000)
    # the same amount under another key would double the escrow: refused
    assert _refused(_capture, 1000, key="psp-second-capture") == "IDEMPOTENCY_KEY_REUSED"
    assert list(Transaction.objects.values_list("pk", flat=True)) == [first.pk]
    assert _money() == (1000, 0, 0, 0, 1000)


def test_ledger_post_refuses_an_escrow_in_another_currency(countries: list[str]) -> None:
    _capture(1000)
    code = _refused(
        _post,
        entries=[EntrySpec(f"escrow:order:{ORDER}", -100), EntrySpec("platform_fee", 100)],
        currency="MXN",
        idempotency_key="other-currency",
    )
    assert code == "LEDGER_INVALID_POSTING"
    assert _money() == (1000, 0, 0, 0, 1000)
