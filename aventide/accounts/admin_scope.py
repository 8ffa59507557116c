"""ScopeGuard in the Django admin: the base classes every staff-console ModelAdmin uses.

- `ScopedAdminMixin` limits changelists, search, autocomplete, raw-id popups, actions, object
  views and FK/M2M choices to the staff member's countries (the principal's scope).
- `ReadOnlyAdminMixin` is the one read-only admin (no add, change, delete, actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst

from aventide.accounts.principals import principal_for_request
from aventide.accounts.scope import ScopeGuard
from aventide.core.principal import Principal

if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


def admin_principal(request: HttpRequest) -> Principal | None:
    """The staff principal of an admin request (None for non-staff sessions)."""
    principal = principal_for_request(request)
    return principal if principal is not None and principal.is_staff else None


def scope_value(obj: Any, field: str) -> str | None:
    """Follow a ``a__b__country_code`` path on an instance; None when a link is missing."""
    value: Any = obj
    for part in field.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return str(value)


def scope_field_for_model(model: type[models.Model]) -> str | None:
    """How rows of ``model`` are scoped: its scoped admin's ``scope_field``, else its own
    ``country_code`` field, else None (not a country-scoped model)."""
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, ScopedAdminMixin):
        return model_admin.scope_field
    try:
        model._meta.get_field("country_code")
    except FieldDoesNotExist:
        return None
    return "country_code"


class ReadOnlyAdminMixin(_AdminBase):
    """Nobody adds, changes or deletes here (money, audit): view only."""

    actions: Any = None  # a subclass may still offer actions that call services

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]


class ScopedAdminMixin(_AdminBase):
    """Country scoping for a ``ModelAdmin`` (put it first in the bases).

    - ``scope_field``: lookup path to the row's country (``"country_code"``,
      ``"order__country_code"``, ``"user__country_code"``).
    - ``ops_lead_only``: when True only ops leads and superusers see this admin at all.
    - Staff without any scope see nothing; changelist, search, autocomplete, raw-id popups
      and actions all start from the scoped ``get_queryset``; FK/M2M choices are limited to
      scoped rows of country-scoped related models; a plain ``country_code`` form field only
      offers the staff member's countries; object views of other countries are refused.
    """

    scope_field: str = "country_code"
    ops_lead_only: bool = False

    # -- helpers
    def scope_countries(self, request: HttpRequest) -> frozenset[str]:
        principal = admin_principal(request)
        return ScopeGuard.countries(principal) if principal is not None else frozenset()

    def scope_allows_admin(self, request: HttpRequest) -> bool:
        principal = admin_principal(request)
        if principal is None:
            return False
        if principal.is_superuser:
            return True
        if self.ops_lead_only and not principal.is_ops_lead:
            return False
        return bool(principal.countries)

    def scope_allows_obj(self, request: HttpRequest, obj: Any) -> bool:
        principal = admin_principal(request)
        if principal is None:
            return False
        if obj is None or principal.is_superuser:
            return True
        value = scope_value(obj, self.scope_field)
        return value is not None and value.upper() in principal.countries

    def scope_filter(self, request: HttpRequest, queryset: QuerySet[Any], field: str) -> Any:
        principal = admin_principal(request)
        if principal is None:
            return queryset.none()
        return ScopeGuard.filter(principal, queryset, field)

    # -- permissions
    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.scope_allows_admin(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            self.scope_allows_admin(request)
            and self.scope_allows_obj(request, obj)
            and super().has_view_permission(request, obj)
        )

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.scope_allows_admin(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            self.scope_allows_admin(request)
            and self.scope_allows_obj(request, obj)
            and super().has_change_permission(request, obj)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            self.scope_allows_admin(request)
            and self.scope_allows_obj(request, obj)
            and super().has_delete_permission(request, obj)
        )

    # -- rows
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = self.scope_filter(
            request, super().get_queryset(request), self.scope_field
        )
        return queryset

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self.scope_filter(request, results, self.scope_field), may_have_duplicates

    # -- form fields
    def _scoped_choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        """Limit a relation's choices to the related rows the staff member may see."""
        if "queryset" in kwargs:
            return
        related = db_field.remote_field.model
        field = scope_field_for_model(related)
        if field is not None:
            kwargs["queryset"] = self.scope_filter(request, related._default_manager.all(), field)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        principal = admin_principal(request)
        if (
            db_field.name == self.scope_field
            and isinstance(db_field, models.CharField)
            and not (principal is not None and principal.is_superuser)
        ):
            return forms.ChoiceField(
                choices=[("", "---------")]
                + [(c, c) for c in sorted(self.scope_countries(request))],
                required=not db_field.blank,
                label=capfirst(str(db_field.verbose_name)),
                help_text="Only the countries you operate in.",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not self.scope_allows_obj(request, obj):
            # Form choices already prevent this; a tampered POST ends here.
            raise PermissionDenied("Outside your countries.")
        super().save_model(request, obj, form, change)
