"""Read-only ledger views for staff, scoped by country (no one edits money by hand)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from aventide.accounts.contracts import ReadOnlyAdminMixin, ScopedAdminMixin
from aventide.ledger.models import Entry, OrderSnapshot, Transaction


class EntryInline(admin.TabularInline[Entry, Transaction]):
    model = Entry
    fields = ("account", "amount_minor", "currency")
    readonly_fields = fields
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Transaction)
class TransactionAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[Transaction]):
    list_display = ("id", "reason", "order_id", "country_code", "currency", "created_at")
    list_filter = ("reason", "country_code", "currency")
    search_fields = ("=order_id", "=idempotency_key", "=request_id")
    inlines = [EntryInline]


@admin.register(OrderSnapshot)
class OrderSnapshotAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[OrderSnapshot]):
    list_display = (
        "order_id",
        "country_code",
        "currency",
        "captured_minor",
        "fee_minor",
        "seller_minor",
        "created_at",
    )
    list_filter = ("country_code",)
    search_fields = ("=order_id",)
