"""Admin registrations of the composition root: the read-only audit console.

The audit app sits below accounts in the app graph (accounts writes audit events), so its
admin, which needs accounts' ScopeGuard, is registered here, in the project package that may
import every app, instead of in ``audit/admin.py`` (that would be an import cycle).

Read-only audit console for ops leads, scoped by country (ScopeGuard).

Nobody can add, change or delete audit rows here (the models and the database refuse it
anyway). Events are filtered to the ops lead's countries by ``ScopedAdminMixin``; seals hold
only hashes and ids, so ops leads see all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import Event, Seal
from aventide.accounts.scope import ScopedAdminMixin, is_ops_lead

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdminMixin(_ModelAdmin):
    actions = None
    show_full_result_count = False  # no COUNT(*) over the whole trail per page

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


@admin.register(Event)
class EventAdmin(ScopedAdminMixin, ReadOnlyAdminMixin):
    scope_field = "country_code"
    ops_lead_only = True
    list_display = (
        "id",
        "occurred_at",
        "action",
        "target_type",
        "target_id",
        "actor_type",
        "actor_id",
        "actor_level",
        "country_code",
        "request_id",
    )
    list_filter = ("action", "target_type", "country_code")
    search_fields = ("=request_id", "=target_id")
    search_help_text = "Exact request id or target id."
    ordering = ("-id",)
    list_per_page = 100

    # Ops-lead status and country scope are the gate (ScopedAdminMixin); no per-model
    # Django permission is needed on top, and nothing beyond viewing is ever allowed.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.scope_allows_admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.scope_allows_admin(request) and self.scope_allows_obj(request, obj)


@admin.register(Seal)
class SealAdmin(ReadOnlyAdminMixin):
    list_display = ("id", "first_id", "last_id", "count", "merkle_root", "created_at")
    search_fields = ("=digest", "=merkle_root")
    ordering = ("-id",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_ops_lead(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_ops_lead(request.user)
