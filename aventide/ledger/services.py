"""Ledger write services: idempotent double-entry postings and the order money movements.

Invariants (enforced here and by DB constraints, tested with hypothesis):
- every transaction's entries are integers in one currency and sum to zero;
- an ``escrow:`` balance never goes negative (checked under a row lock; CHECK constraint);
- for an order, released + refunded + credited never exceeds captured;
- one idempotency key = one transaction, ever: a repeat with the same content returns the
  first transaction; the same key with different content is ``IDEMPOTENCY_KEY_REUSED``.

Locks: a posting inserts its transaction row first (the UNIQUE key makes concurrent repeats
wait for the first and then return it), then locks the touched balance rows FOR UPDATE in
account order (no deadlocks between postings). Every posting writes its audit event in the
same transaction. No network I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from audit import services as audit
from aventide.accounts.countries import country_settings
from aventide.core import context
from aventide.ledger.errors import (
    EscrowInsufficient,
    IdempotencyKeyReused,
    LedgerInvariantViolation,
    MoneyCapExceeded,
    SnapshotMissing,
)
from aventide.ledger.models import (
    ESCROW_PREFIX,
    AccountBalance,
    Entry,
    OrderSnapshot,
    Transaction,
)
from aventide.ledger.selectors import balance_of, order_money

PLATFORM_FEE = "platform_fee"
MAX_KEY_LENGTH = 200


def escrow_account(order_id: int) -> str:
    return f"{ESCROW_PREFIX}order:{order_id}"


def buyer_payments_account(buyer_id: int) -> str:
    return f"buyer_payments:{buyer_id}"


def seller_payable_account(seller_id: int) -> str:
    return f"seller_payable:{seller_id}"


def buyer_refund_account(buyer_id: int) -> str:
    return f"buyer_refund:{buyer_id}"


def buyer_credit_account(buyer_id: int) -> str:
    return f"buyer_credit:{buyer_id}"


def split_fee(amount_minor: int, fee_bps: int) -> tuple[int, int]:
    """(fee, seller) for an amount: the fee rounds down, the seller gets the rest."""
    if amount_minor < 0 or not 0 <= fee_bps <= 10_000:
        raise LedgerInvariantViolation("Fee split needs a non-negative amount and 0..10000 bps.")
    fee = amount_minor * fee_bps // 10_000
    return fee, amount_minor - fee


@dataclass(frozen=True)
class EntrySpec:
    account: str
    amount_minor: int


def _validate(entries: Sequence[EntrySpec], currency: str, key: str, reason: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise LedgerInvariantViolation(
            f"An idempotency key of 1..{MAX_KEY_LENGTH} chars is required."
        )
    if not reason:
        raise LedgerInvariantViolation("A reason is required.")
    if len(currency) != 3 or not currency.isupper():
        raise LedgerInvariantViolation("Currency must be an ISO 4217 code.")
    if len(entries) < 2:
        raise LedgerInvariantViolation("A transaction needs at least two entries.")
    for entry in entries:
        if type(entry.amount_minor) is not int or entry.amount_minor == 0:
            raise LedgerInvariantViolation("Entry amounts are non-zero integers (minor units).")
        if not entry.account or len(entry.account) > 120:
            raise LedgerInvariantViolation("Entry accounts are 1..120 chars.")
    if sum(e.amount_minor for e in entries) != 0:
        raise LedgerInvariantViolation("The entries of a transaction must sum to zero.")


def _fingerprint(
    entries: Sequence[EntrySpec], currency: str, reason: str, order_id: int | None
) -> str:
    canonical = json.dumps(
        {
            "reason": reason,
            "currency": currency,
            "order": order_id,
            "entries": sorted([e.account, e.amount_minor] for e in entries),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same_or_reused(existing: Transaction, fingerprint: str) -> Transaction:
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return existing


def _apply_balances(entries: Sequence[EntrySpec], currency: str) -> None:
    """Update the locked balance rows of the accounts that carry an invariant (escrows).

    Only escrow accounts keep a balance row: each is per order, so postings of different
    orders never contend. Shared accounts (``platform_fee``, a seller's payable) have no row
    to lock -- their balance is the sum of their entries -- so completions never serialize
    on one hot row.
    """
    deltas: dict[str, int] = {}
    for entry in entries:
        if entry.account.startswith(ESCROW_PREFIX):
            deltas[entry.account] = deltas.get(entry.account, 0) + entry.amount_minor
    accounts = sorted(deltas)
    if not accounts:
        return
    AccountBalance.objects.bulk_create(
        [AccountBalance(account=a, currency=currency, balance_minor=0) for a in accounts],
        ignore_conflicts=True,
    )
    locked = {
        b.account: b
        for b in AccountBalance.objects.select_for_update()
        .filter(account__in=accounts, currency=currency)
        .order_by("account")
    }
    for account in accounts:
        balance = locked[account]
        new_balance = balance.balance_minor + deltas[account]
        if new_balance < 0:
            raise EscrowInsufficient()
        balance.balance_minor = new_balance
        balance.save(update_fields=["balance_minor", "updated_at"])


def post(
    *,
    entries: Sequence[EntrySpec],
    idempotency_key: str,
    reason: str,
    currency: str,
    order_id: int | None = None,
    country_code: str = "",
) -> Transaction:
    """Post one balanced transaction, exactly once per idempotency key.

    Returns the transaction (the first one for a repeated key). Raises
    ``LEDGER_INVALID_POSTING`` for unbalanced/invalid entries, ``IDEMPOTENCY_KEY_REUSED`` when
    the key was used with other content, ``ESCROW_INSUFFICIENT`` when an escrow would go
    negative. Opens its own savepoint; safe inside the caller's transaction.
    """
    _validate(entries, currency, idempotency_key, reason)
    fingerprint = _fingerprint(entries, currency, reason, order_id)
    existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_or_reused(existing, fingerprint)
    try:
        with transaction.atomic():
            txn = Transaction.objects.create(
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                reason=reason,
                order_id=order_id,
                country_code=country_code,
                currency=currency,
                request_id=context.get_request_id() or "",
            )
            Entry.objects.bulk_create(
                [
                    Entry(
                        txn=txn, account=e.account, amount_minor=e.amount_minor, currency=currency
                    )
                    for e in entries
                ]
            )
            _apply_balances(entries, currency)
            audit.record(
                "ledger.transaction_posted",
                ("order", order_id) if order_id is not None else ("ledger_transaction", txn.pk),
                data={
                    "transactionId": txn.pk,
                    "reason": reason,
                    "currency": currency,
                    "idempotencyKey": idempotency_key,
                    "entries": [[e.account, e.amount_minor] for e in entries],
                },
                country_code=country_code,
            )
    except IntegrityError:
        # Lost the race on the UNIQUE key: the winner has committed; return it.
        existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return _same_or_reused(existing, fingerprint)
    return txn


# --- order money movements -----------------------------------------------------------------


def capture(
    *,
    order_id: int,
    country_code: str,
    buyer_id: int,
    seller_id: int,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
) -> Transaction:
    """Payment captured: buyer -> escrow, and freeze the order's snapshot (fee at capture)."""
    if amount_minor <= 0:
        raise LedgerInvariantViolation("A capture needs a positive amount.")
    with transaction.atomic():
        snapshot = OrderSnapshot.objects.filter(order_id=order_id).first()
        if snapshot is None:
            fee_bps = country_settings(country_code).platform_fee_bps
            fee, seller = split_fee(amount_minor, fee_bps)
            try:
                with transaction.atomic():  # savepoint: a concurrent capture may win the row
                    snapshot = OrderSnapshot.objects.create(
                        order_id=order_id,
                        country_code=country_code,
                        currency=currency,
                        buyer_id=buyer_id,
                        seller_id=seller_id,
                        captured_minor=amount_minor,
                        fee_bps=fee_bps,
                        fee_minor=fee,
                        seller_minor=seller,
                    )
            except IntegrityError:
                snapshot = OrderSnapshot.objects.get(order_id=order_id)
        if snapshot.captured_minor != amount_minor or snapshot.currency != currency:
            raise IdempotencyKeyReused("This order was already captured with another amount.")
        return post(
            entries=[
                EntrySpec(buyer_payments_account(buyer_id), -amount_minor),
                EntrySpec(escrow_account(order_id), amount_minor),
            ],
            idempotency_key=idempotency_key,
            reason="capture",
            currency=currency,
            order_id=order_id,
            country_code=country_code,
        )


def _locked_snapshot(order_id: int) -> OrderSnapshot:
    snapshot = OrderSnapshot.objects.filter(order_id=order_id).first()
    if snapshot is None:
        raise SnapshotMissing()
    # Serialize every money movement of this order on its escrow balance row.
    AccountBalance.objects.select_for_update().filter(
        account=escrow_account(order_id), currency=snapshot.currency
    ).first()
    return snapshot


def _already_posted(idempotency_key: str) -> Transaction | None:
    return Transaction.objects.filter(idempotency_key=idempotency_key).first()


def _out_of_escrow(order_id: int, snapshot: OrderSnapshot, amount_minor: int) -> None:
    money = order_money(order_id)
    if money.released + money.refunded + money.credited + amount_minor > snapshot.captured_minor:
        raise MoneyCapExceeded()


def release(*, order_id: int, idempotency_key: str) -> Transaction:
    """Release what the escrow holds: seller payable + platform fee (fee rounds down)."""
    with transaction.atomic():
        snapshot = _locked_snapshot(order_id)
        done = _already_posted(idempotency_key)
        if done is not None:
            return done
        held = balance_of(escrow_account(order_id), snapshot.currency)
        if held <= 0:
            raise EscrowInsufficient("The escrow of this order is empty.")
        _out_of_escrow(order_id, snapshot, held)
        fee, seller = split_fee(held, snapshot.fee_bps)
        entries = [EntrySpec(escrow_account(order_id), -held)]
        if seller:
            entries.append(EntrySpec(seller_payable_account(snapshot.seller_id), seller))
        if fee:
            entries.append(EntrySpec(PLATFORM_FEE, fee))
        return post(
            entries=entries,
            idempotency_key=idempotency_key,
            reason="release",
            currency=snapshot.currency,
            order_id=order_id,
            country_code=snapshot.country_code,
        )


def _escrow_to_buyer(
    *, order_id: int, amount_minor: int, idempotency_key: str, reason: str, credit: bool
) -> Transaction:
    if type(amount_minor) is not int or amount_minor <= 0:
        raise LedgerInvariantViolation("The amount must be a positive integer (minor units).")
    with transaction.atomic():
        snapshot = _locked_snapshot(order_id)
        done = _already_posted(idempotency_key)
        if done is not None:
            return done
        _out_of_escrow(order_id, snapshot, amount_minor)
        target = buyer_credit_account if credit else buyer_refund_account
        return post(
            entries=[
                EntrySpec(escrow_account(order_id), -amount_minor),
                EntrySpec(target(snapshot.buyer_id), amount_minor),
            ],
            idempotency_key=idempotency_key,
            reason=reason,
            currency=snapshot.currency,
            order_id=order_id,
            country_code=snapshot.country_code,
        )


def refund(*, order_id: int, amount_minor: int, idempotency_key: str) -> Transaction:
    """Escrow -> the buyer's refund account."""
    return _escrow_to_buyer(
        order_id=order_id,
        amount_minor=amount_minor,
        idempotency_key=idempotency_key,
        reason="refund",
        credit=False,
    )


def credit(*, order_id: int, amount_minor: int, idempotency_key: str) -> Transaction:
    """Escrow -> the buyer's platform credit."""
    return _escrow_to_buyer(
        order_id=order_id,
        amount_minor=amount_minor,
        idempotency_key=idempotency_key,
        reason="credit",
        credit=True,
    )


def refund_all(*, order_id: int, idempotency_key: str) -> Transaction | None:
    """Refund whatever the escrow still holds (order cancelled after payment); None if empty."""
    with transaction.atomic():
        snapshot = OrderSnapshot.objects.filter(order_id=order_id).first()
        if snapshot is None:
            return None
        _locked_snapshot(order_id)
        done = _already_posted(idempotency_key)
        if done is not None:
            return done
        held = balance_of(escrow_account(order_id), snapshot.currency)
        if held <= 0:
            return None
        return refund(order_id=order_id, amount_minor=held, idempotency_key=idempotency_key)
