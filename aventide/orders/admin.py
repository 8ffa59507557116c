"""Staff console for listings and orders.

The status field is read-only. The allowed transitions for the staff member's level appear
as buttons on the order page; each opens a small form (reason, evidence) and calls the
orders service, which checks ScopeGuard, the level and the state and writes the audit row.
Errors are shown to the staff member with their code. django-fsm-2's admin mixin is not
used: it calls transitions directly, skipping the service (audit, permissions, money).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from aventide.accounts.contracts import ScopedAdminMixin, admin_principal
from aventide.core.errors import DomainError
from aventide.core.money import format_minor
from aventide.core.principal import Principal
from aventide.orders import selectors, services
from aventide.orders.models import FORCE_COMPLETE_REASONS, Listing, Order

STAFF_TRANSITIONS = {"cancel", "force_complete"}


def _principal(request: HttpRequest) -> Principal:
    principal = admin_principal(request)
    if principal is None:  # the admin site only lets active staff in
        raise PermissionDenied
    return principal


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Shown in the audit trail.")


class ForceCompleteForm(forms.Form):
    reason_code = forms.ChoiceField(choices=FORCE_COMPLETE_REASONS)
    evidence_refs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One evidence reference per line (ticket ids, courier proofs, file ids).",
    )

    def clean_evidence_refs(self) -> list[str]:
        refs = [line.strip() for line in self.cleaned_data["evidence_refs"].splitlines()]
        refs = [r for r in refs if r]
        if not refs:
            raise forms.ValidationError("At least one evidence reference is required.")
        return refs


FORMS: dict[str, type[forms.Form]] = {"cancel": CancelForm, "force_complete": ForceCompleteForm}


@admin.register(Listing)
class ListingAdmin(ScopedAdminMixin, admin.ModelAdmin[Listing]):
    """Read-only; L3 take listings off the catalogue (and back) with audited actions."""

    list_display = (
        "id",
        "title",
        "country_code",
        "price_minor",
        "currency",
        "active",
        "created_at",
    )
    list_filter = ("country_code", "active")
    search_fields = ("title",)
    actions = ["deactivate", "reactivate"]

    @admin.display(description="price", ordering="price_minor")
    def price(self, obj: Listing) -> str:
        return format_minor(obj.price_minor, obj.currency)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _set_active(self, request: HttpRequest, queryset: Any, active: bool) -> None:
        done = 0
        for listing_id in queryset.values_list("pk", flat=True):
            try:
                services.listing_set_active(
                    actor=_principal(request), listing_id=listing_id, active=active
                )
            except DomainError as exc:
                self.message_user(request, f"listing {listing_id}: {exc.code}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request, f"{done} listing(s) {'reactivated' if active else 'deactivated'}."
            )

    @admin.action(description="Take the selected listings off the catalogue (L3)")
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Put the selected listings back in the catalogue (L3)")
    def reactivate(self, request: HttpRequest, queryset: Any) -> None:
        self._set_active(request, queryset, active=True)


@admin.register(Order)
class OrderAdmin(ScopedAdminMixin, admin.ModelAdmin[Order]):
    list_display = ("id", "country_code", "status", "amount", "created_at")
    list_filter = ("status", "country_code")
    search_fields = ("=id", "payment_reference")
    date_hierarchy = "created_at"
    change_form_template = "admin/orders/order/change_form.html"

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, obj: Order) -> str:
        return format_minor(obj.amount_minor, obj.currency)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["amount", *(f.name for f in Order._meta.fields)]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:order_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            )
        ]
        return custom + super().get_urls()

    def staff_transitions(self, request: HttpRequest, order: Order) -> list[str]:
        allowed = selectors.allowed_transitions(_principal(request), order)
        return [name for name in allowed if name in STAFF_TRANSITIONS]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = dict(extra_context or {})
        order = self.get_object(request, object_id)
        if order is not None:
            extra["order_transitions"] = [
                (
                    name,
                    name.replace("_", " "),
                    reverse("admin:orders_order_transition", args=[order.pk, name]),
                )
                for name in self.staff_transitions(request, order)
            ]
        return super().change_view(request, object_id, form_url, extra)

    def transition_view(self, request: HttpRequest, order_id: int, name: str) -> HttpResponse:
        order = get_object_or_404(self.get_queryset(request), pk=order_id)
        if not self.has_view_permission(request, order):
            raise PermissionDenied
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        if name not in FORMS or name not in self.staff_transitions(request, order):
            self.message_user(
                request, f"'{name}' is not available for you on this order.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        form = FORMS[name](request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                if name == "cancel":
                    services.order_cancel(
                        actor=_principal(request),
                        order_id=order.pk,
                        reason=form.cleaned_data["reason"],
                    )
                else:
                    services.order_force_complete(
                        actor=_principal(request),
                        order_id=order.pk,
                        reason_code=form.cleaned_data["reason_code"],
                        evidence_refs=form.cleaned_data["evidence_refs"],
                    )
            except DomainError as exc:
                self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Order {order.pk}: {name.replace('_', ' ')} done.")
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": order,
            "title": f"{name.replace('_', ' ').capitalize()} order {order.pk}",
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/orders/order/transition.html", context)
