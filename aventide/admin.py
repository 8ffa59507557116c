"""Admin registrations of the composition root: the read-only audit console and the countries.

The audit and markets apps sit below accounts in the app graph (accounts writes audit events
and reads country policy), so their admins, which need accounts' ScopeGuard, are registered
here, in the project package that may import every app, instead of in their own ``admin.py``
(that would be an import cycle).

Read-only audit console for ops leads, scoped by country (ScopeGuard).

Nobody can add, change or delete audit rows here (the models and the database refuse it
anyway). Events are filtered to the ops lead's countries by ``ScopedAdminMixin``; seals hold
only hashes and ids, so ops leads see all of them.

The ops alerts console (read-only, global: ops leads, L3 and superusers) is here too: ops may
import only the kernel, so its admin, which needs accounts' principal, lives in the root.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from audit.models import Event, Seal
from aventide.accounts.contracts import ReadOnlyAdminMixin, ScopedAdminMixin, admin_principal
from aventide.markets import services as markets
from aventide.markets.models import Country
from aventide.ops.alerts import alert_rule
from aventide.ops.models import Alert


def _is_ops_lead(request: HttpRequest) -> bool:
    principal = admin_principal(request)
    return principal is not None and principal.is_ops_lead


@admin.register(Event)
class EventAdmin(ScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin[Event]):
    scope_field = "country_code"
    show_full_result_count = False  # no COUNT(*) over the whole trail per page
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
class SealAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Seal]):
    show_full_result_count = False
    list_display = ("id", "first_id", "last_id", "count", "merkle_root", "created_at")
    search_fields = ("=digest", "=merkle_root")
    ordering = ("-id",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_ops_lead(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_ops_lead(request)


def _sees_ops_alerts(request: HttpRequest) -> bool:
    """Ops alerts are global (the platform's health, no personal data, no order): ops leads,
    L3 (the country ops leads, first responders for their countries' providers) and
    superusers see every alert; L1/L2 agents do not (docs/operations/alerts.md)."""
    principal = admin_principal(request)
    return principal is not None and (
        principal.is_superuser or principal.is_ops_lead or principal.has_level("L3")
    )


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin[Alert]):
    """Read-only: alert states are written by the evaluation only (ops.evaluate_alerts)."""

    list_display = (
        "id",
        "rule",
        "labels_key",
        "state",
        "severity",
        "last_value",
        "started_at",
        "fired_at",
        "resolved_at",
        "last_evaluated_at",
    )
    list_filter = ("state", "severity", "rule")
    search_fields = ("=rule", "labels_key")
    ordering = ("-started_at", "-id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*super().get_readonly_fields(request, obj), "runbook"]

    @admin.display(description="runbook")
    def runbook(self, obj: Alert) -> str:
        rule = alert_rule(obj.rule)
        return rule.runbook if rule is not None else "(rule no longer registered)"

    # The principal's role is the gate; no per-model Django permission is needed on top.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _sees_ops_alerts(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _sees_ops_alerts(request)


@admin.register(Country)
class CountryAdmin(ScopedAdminMixin, admin.ModelAdmin[Country]):
    """Countries and their policy: staff see their countries; superusers edit (audited
    ``country.policy_set`` through the markets service)."""

    scope_field = "code"
    list_display = [
        "code",
        "name",
        "currency",
        "dispute_window_hours",
        "platform_fee_bps",
        "active",
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: orders and money keep their country

    def save_model(self, request: HttpRequest, obj: Country, form: Any, change: bool) -> None:
        if not self.scope_allows_obj(request, obj):
            raise PermissionDenied("Outside your countries.")
        markets.country_policy_set(
            code=obj.code,
            name=obj.name,
            currency=obj.currency,
            dispute_window_hours=obj.dispute_window_hours,
            platform_fee_bps=obj.platform_fee_bps,
            active=obj.active,
        )
