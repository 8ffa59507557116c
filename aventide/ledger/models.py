"""Double-entry ledger: transactions of entries that sum to zero, escrow balances, snapshots.

Money is integer minor units; account names come from ``aventide.ledger.chart``. The ledger
knows orders by id only (it sits below orders in the app graph).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from aventide.ledger.chart import ESCROW_PREFIX


class Transaction(models.Model):
    """One posting: a set of entries in one currency summing to zero, unique on its key."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of reason + entries")
    reason = models.CharField(max_length=64, db_index=True)
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    country_code = models.CharField(max_length=2, blank=True, db_index=True)
    currency = models.CharField(max_length=3)
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"txn:{self.pk} {self.reason}"


class Entry(models.Model):
    txn = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries")
    account = models.CharField(max_length=120, db_index=True)
    amount_minor = models.BigIntegerField(help_text="Positive credits the account.")
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="entry_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount_minor:+d} {self.currency}"


class AccountBalance(models.Model):
    """Running balance of an escrow account, locked FOR UPDATE by each movement touching it.

    Only accounts with an invariant (``escrow:*``, never negative) keep a row; other
    balances are the sum of their entries (no hot row on ``platform_fee``). An order's escrow
    row points at the order's snapshot, so one locking read gives a movement both the balance
    and the frozen amounts.
    """

    account = models.CharField(max_length=120)
    currency = models.CharField(max_length=3)
    balance_minor = models.BigIntegerField(default=0)
    snapshot = models.ForeignKey(
        "OrderSnapshot",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The order's money frozen at capture (escrow rows of orders).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "currency"], name="balance_account_unique"),
            # An escrow holds one currency: one row per escrow account, whatever the currency
            # (a capture in another currency finds the row and is refused).
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(account__startswith=ESCROW_PREFIX),
                name="balance_escrow_one_currency",
            ),
            models.CheckConstraint(
                condition=Q(balance_minor__gte=0) | ~Q(account__startswith=ESCROW_PREFIX),
                name="escrow_balance_never_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account}={self.balance_minor} {self.currency}"


class OrderSnapshot(models.Model):
    """The order's money frozen at capture: what support outcomes are computed from."""

    order_id = models.BigIntegerField(unique=True)
    country_code = models.CharField(max_length=2)
    currency = models.CharField(max_length=3)
    buyer_id = models.BigIntegerField()
    seller_id = models.BigIntegerField()
    captured_minor = models.BigIntegerField()
    fee_bps = models.PositiveIntegerField()
    fee_minor = models.BigIntegerField()
    seller_minor = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(captured_minor__gt=0)
                & Q(fee_minor__gte=0)
                & Q(seller_minor__gte=0)
                & Q(seller_minor=models.F("captured_minor") - models.F("fee_minor")),
                name="snapshot_amounts_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot order:{self.order_id}"
