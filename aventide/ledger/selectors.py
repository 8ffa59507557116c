"""Ledger reads: balances, an order's money totals, snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, Sum

from aventide.ledger import chart
from aventide.ledger.models import AccountBalance, Entry, OrderSnapshot

_REASONS = ("capture", "release", "refund", "credit")


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
    if chart.is_escrow(account):
        row = AccountBalance.objects.filter(account=account, currency=currency).first()
        return row.balance_minor if row else 0
    total = Entry.objects.filter(account=account, currency=currency).aggregate(
        total=Sum("amount_minor")
    )["total"]
    return int(total or 0)


def snapshot_for(order_id: int) -> OrderSnapshot | None:
    return OrderSnapshot.objects.filter(order_id=order_id).first()


def order_money(order_id: int) -> OrderMoney:
    """Totals of an order's money, from its entries on the escrow account (one aggregate)."""
    account = chart.escrow(order_id)
    sums = Entry.objects.filter(account=account, txn__order_id=order_id).aggregate(
        **{
            reason: Sum("amount_minor", filter=Q(txn__reason=reason), default=0)
            for reason in _REASONS
        },
        currency_total=Sum("amount_minor", default=0),
    )
    snapshot = snapshot_for(order_id)
    return OrderMoney(
        currency=snapshot.currency if snapshot else "",
        captured=int(sums["capture"]),
        released=-int(sums["release"]),
        refunded=-int(sums["refund"]),
        credited=-int(sums["credit"]),
        escrow=int(sums["currency_total"]),
    )


def ledger_total() -> int:
    """Sum of every entry ever posted: always 0 in a consistent ledger."""
    return int(Entry.objects.aggregate(total=Sum("amount_minor"))["total"] or 0)
