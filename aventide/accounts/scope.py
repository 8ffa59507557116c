"""ScopeGuard: the ONE definition of what a staff member may see and do, by country.

Used by admin querysets (`ScopedAdminMixin`), DRF views, services and (later) WebSocket
staff streams. Rules:
- Only active staff (``is_staff``) have a scope. Their countries are their
  `StaffCountryScope` rows; a staff member with none can do nothing operational. Superusers
  operate in every active country.
- Every operational call states a ``country_code``; `ScopeGuard.check` refuses a country
  outside the caller's scope with 403 ``SCOPE_VIOLATION`` and writes the audit event
  ``scope.violation``.
- Levels rank L1 < L2 < L3; `ScopeGuard.require_level` refuses with 403
  ``STAFF_LEVEL_REQUIRED``. ``is_ops_lead`` (managing staff and scopes) is separate from the
  level.

Where the ``scope.violation`` audit row is written (so it survives the refusal)
- ``audit.services.record`` writes inside the caller's transaction; an exception that
  leaves the caller's ``transaction.atomic`` block rolls it back together with the audit row.
- So services call ``ScopeGuard.check`` FIRST, before opening their transaction (the country
  of an existing row is immutable, so reading it unlocked first is safe), and views call it
  before calling the service. `check` then writes the violation in its own short
  transaction, which commits even though the request is refused.
- If `check` is nevertheless called inside a caller's transaction, it still records the event
  (it is lost only if the caller rolls back) and always logs ``METRIC_SCOPE_VIOLATION`` (a log
  line survives any rollback); it also logs ``SCOPE_VIOLATION_IN_TRANSACTION`` so the misuse
  is found and fixed. See docs/operations/auth.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst

from audit import services as audit_services
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.models import STAFF_LEVEL_RANK, Country, StaffCountryScope, StaffProfile
from aventide.core import metrics
from aventide.core.logging import get_logger

__all__ = [
    "ScopeGuard",
    "ScopeViolation",
    "ScopedAdminMixin",
    "StaffLevelRequired",
    "countries_of",
    "is_ops_lead",
    "is_staff_user",
    "staff_level",
]

logger = get_logger("aventide.scope")


def is_staff_user(user: Any) -> bool:
    """An authenticated, active Django user with ``is_staff`` (never an anonymous identity)."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and not getattr(user, "is_anonymous_identity", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and getattr(user, "pk", None) is not None
    )


def _profile(user: Any) -> StaffProfile | None:
    try:
        profile: StaffProfile = user.staff_profile
    except StaffProfile.DoesNotExist:
        return None
    return profile


def staff_level(user: Any) -> str | None:
    """ "L1"/"L2"/"L3", or None for non-staff and staff without a profile."""
    if not is_staff_user(user):
        return None
    profile = _profile(user)
    return profile.level if profile is not None else None


def is_ops_lead(user: Any) -> bool:
    if not is_staff_user(user):
        return False
    if user.is_superuser:
        return True
    profile = _profile(user)
    return bool(profile is not None and profile.is_ops_lead)


def countries_of(user: Any) -> frozenset[str]:
    """The countries ``user`` may operate in (empty: none; superusers: every active one)."""
    if not is_staff_user(user):
        return frozenset()
    if user.is_superuser:
        return frozenset(Country.objects.filter(active=True).values_list("code", flat=True))
    return frozenset(
        StaffCountryScope.objects.filter(staff__user_id=user.pk).values_list(
            "country_code", flat=True
        )
    )


def _in_caller_transaction() -> bool:
    """True inside a transaction opened by application code (not by the test framework).

    Django's TestCase (and pytest-django's ``db``) wrap each test in atomic blocks flagged
    ``_from_testcase``; those do not count (Django's own ``durable`` check does the same).
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return False
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _record_violation(user: Any, country_code: str, *, action: str, target: str) -> None:
    from aventide.accounts.contracts import actor_for

    try:
        actor = actor_for(user)
    except TypeError:
        actor = None
    metrics.emit("METRIC_SCOPE_VIOLATION", labels={"action": action[:64]})
    if _in_caller_transaction():
        logger.error("SCOPE_VIOLATION_IN_TRANSACTION", action=action, country=country_code)
    audit_target = target if ":" in target else f"country:{country_code or '-'}"
    with transaction.atomic():
        audit_services.record(
            "scope.violation",
            audit_target,
            actor=actor,
            country_code=country_code,
            data={
                "attempted": action,
                "countryCode": country_code,
                "actorCountries": sorted(countries_of(user)),
            },
        )


class ScopeGuard:
    """Country scope checks. Stateless; every method takes the user explicitly."""

    @staticmethod
    def allows(user: Any, country_code: str) -> bool:
        return bool(country_code) and country_code.upper() in countries_of(user)

    @staticmethod
    def check(user: Any, country_code: str, *, action: str, target: str = "") -> None:
        """Refuse (403 ``SCOPE_VIOLATION``, audited) unless ``country_code`` is in scope.

        ``action`` is a stable dotted name of the attempted operation
        (``"anonymous_identity.revoke"``); ``target`` an optional ``"type:id"``.
        Call it BEFORE opening the caller's transaction (see the module docstring).
        """
        code = (country_code or "").upper()
        if code and code in countries_of(user):
            return
        _record_violation(user, code, action=action, target=target)
        raise ScopeViolation()

    @staticmethod
    def require_level(user: Any, minimum: str) -> None:
        """Refuse (403 ``STAFF_LEVEL_REQUIRED``) unless ``user`` is staff at ``minimum``+.

        Superusers pass. A staff member without a profile has no level.
        """
        if minimum not in STAFF_LEVEL_RANK:
            raise ValueError(f"unknown staff level {minimum!r}")
        if is_staff_user(user) and user.is_superuser:
            return
        level = staff_level(user)
        if level is None or STAFF_LEVEL_RANK[level] < STAFF_LEVEL_RANK[minimum]:
            raise StaffLevelRequired()

    @staticmethod
    def require_ops_lead(user: Any) -> None:
        if not is_ops_lead(user):
            raise StaffLevelRequired("Only an ops lead can do this.")

    @staticmethod
    def filter(
        user: Any,
        queryset: QuerySet[Any],
        field: str = "country_code",
        *,
        countries: Iterable[str] | None = None,
    ) -> QuerySet[Any]:
        """``queryset`` limited to the rows whose ``field`` (a lookup path such as
        ``"order__country_code"``) is one of the user's countries. No scope: no rows.
        Superusers see every row. ``countries`` lets a caller pass a precomputed scope."""
        if is_staff_user(user) and user.is_superuser:
            return queryset
        scope = frozenset(countries) if countries is not None else countries_of(user)
        if not scope:
            return queryset.none()
        return queryset.filter(**{f"{field}__in": sorted(scope)})


# --- admin ------------------------------------------------------------------------------


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


if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]
else:
    _AdminBase = object


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
        cached: frozenset[str] | None = getattr(request, "_aventide_scope_countries", None)
        if cached is None:
            cached = countries_of(request.user)
            request._aventide_scope_countries = cached  # type: ignore[attr-defined]  # per-request cache
        return cached

    def scope_allows_admin(self, request: HttpRequest) -> bool:
        user = request.user
        if not is_staff_user(user):
            return False
        if user.is_superuser:
            return True
        if self.ops_lead_only and not is_ops_lead(user):
            return False
        return bool(self.scope_countries(request))

    def scope_allows_obj(self, request: HttpRequest, obj: Any) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        value = scope_value(obj, self.scope_field)
        return value is not None and value.upper() in self.scope_countries(request)

    def scope_filter(self, request: HttpRequest, queryset: QuerySet[Any], field: str) -> Any:
        return ScopeGuard.filter(
            request.user, queryset, field, countries=self.scope_countries(request)
        )

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
    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "queryset" not in kwargs:
            related = db_field.remote_field.model
            field = scope_field_for_model(related)
            if field is not None:
                kwargs["queryset"] = self.scope_filter(
                    request, related._default_manager.all(), field
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if "queryset" not in kwargs:
            related = db_field.remote_field.model
            field = scope_field_for_model(related)
            if field is not None:
                kwargs["queryset"] = self.scope_filter(
                    request, related._default_manager.all(), field
                )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if (
            db_field.name == self.scope_field
            and isinstance(db_field, models.CharField)
            and not request.user.is_superuser
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
