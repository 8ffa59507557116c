"""Ledger reads: balances, an order's money totals, snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from aventide.ledger.models import ESCROW_PREFIX, AccountBalance, Entry, OrderSnapshot

_REASONS_OUT = ("release", "refund", "credit")


@dataclass(frozen=True)
class OrderMoney:
    currency: str
    captured: int
    released: int
    refunded: int
    credited: int
    escrow: int

    @property
    def moved_out(self) -> int:
        return self.released + self.refunded + self.credited


def balance_of(account: str, currency: str) -> int:
    """An account's balance: the locked row for escrows, the sum of entries otherwise."""
    if account.startswith(ESCROW_PREFIX):
        row = AccountBalance.objects.filter(account=account, currency=currency).first()
        return row.balance_minor if row else 0
    total = Entry.objects.filter(account=account, currency=currency).aggregate(
        total=Sum("amount_minor")
    )["total"]
    return int(total or 0)


def snapshot_for(order_id: int) -> OrderSnapshot | None:
    return OrderSnapshot.objects.filter(order_id=order_id).first()


def order_money(order_id: int) -> OrderMoney:
    """Totals of an order's money, from its entries on the escrow account."""
    escrow = f"escrow:order:{order_id}"
    snapshot = snapshot_for(order_id)
    totals = {
        reason: -(
            Entry.objects.filter(
                account=escrow, txn__order_id=order_id, txn__reason=reason
            ).aggregate(total=Sum("amount_minor"))["total"]
            or 0
        )
        for reason in _REASONS_OUT
    }
    captured = (
        Entry.objects.filter(
            account=escrow, txn__order_id=order_id, txn__reason="capture"
        ).aggregate(total=Sum("amount_minor"))["total"]
        or 0
    )
    currency = snapshot.currency if snapshot else ""
    return OrderMoney(
        currency=currency,
        captured=captured,
        released=totals["release"],
        refunded=totals["refund"],
        credited=totals["credit"],
        escrow=balance_of(escrow, currency) if currency else 0,
    )


def ledger_total() -> int:
    """Sum of every entry ever posted: always 0 in a consistent ledger."""
    return int(Entry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0)
