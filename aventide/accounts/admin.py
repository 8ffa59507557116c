"""Staff console for accounts: users, staff profiles, country scopes, anonymous identities.

- Only staff log in (Django's admin site requires ``is_staff``); the login form shares the
  API's lockout per (account, IP) and per-IP throttling.
- Every admin here is country-scoped with `ScopedAdminMixin`: nobody sees another country's
  users. Staff profiles and scopes are managed by ops leads (``ops_lead_only``).
- Writes go through services (audit events); password hashes, Google ids and signatures are
  never displayed.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from aventide.accounts import services
from aventide.accounts.admin_scope import ScopedAdminMixin, admin_principal
from aventide.accounts.models import AnonymousIdentity, StaffCountryScope, StaffProfile, User
from aventide.accounts.staff_groups import STAFF_GROUPS
from aventide.accounts.throttling import client_ip
from aventide.core.errors import DomainError, RateLimited
from aventide.core.principal import Principal


class StaffLoginForm(AdminAuthenticationForm):
    """The admin login with the same lockout/throttling as ``POST /api/auth/login``."""

    def clean(self) -> dict[str, Any]:
        email = str(self.cleaned_data.get("username") or "").strip().lower()
        ip = client_ip(self.request) if self.request is not None else "-"
        try:
            guard = services.login_attempt_check(email=email, ip=ip, method="admin")
        except RateLimited as exc:
            raise ValidationError(
                "Too many failed logins. Retry in %(seconds)s seconds.",
                code="locked",
                params={"seconds": exc.retry_after},
            ) from None
        try:
            cleaned = super().clean()
        except ValidationError:
            services.login_attempt_failed(guard=guard, email=email, method="admin")
            raise
        guard.record_success()
        return cleaned


admin.site.login_form = StaffLoginForm


def _actor(request: HttpRequest) -> Principal:
    principal = admin_principal(request)
    if principal is None:  # the admin site only lets active staff in
        raise PermissionDenied
    return principal


def _refuse(error: DomainError) -> PermissionDenied:
    return PermissionDenied(error.message)


# --- users -------------------------------------------------------------------------------


class UserAddForm(forms.ModelForm[User]):
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password (again)", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["email", "full_name", "country_code", "is_staff", "is_seller"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password1")
        if password != cleaned.get("password2"):
            raise ValidationError("The two passwords differ.")
        if password:
            candidate = User(
                email=str(cleaned.get("email") or ""),
                full_name=str(cleaned.get("full_name") or ""),
            )
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password1"])
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(ScopedAdminMixin, admin.ModelAdmin[User]):
    list_display = [
        "id",
        "email",
        "full_name",
        "country_code",
        "is_seller",
        "is_staff",
        "is_active",
    ]
    list_filter = ["country_code", "is_staff", "is_seller", "is_active"]
    search_fields = ["email", "full_name"]
    ordering = ["id"]
    readonly_fields = ["date_joined", "last_login"]
    add_form = UserAddForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            fields = ["email", "full_name", "country_code", "is_staff", "is_seller"]
            return [*fields, "password1", "password2"]
        fields = ["email", "full_name", "country_code", "is_active", "is_seller", "is_staff"]
        fields += ["groups", "date_joined", "last_login"]
        if request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(self.readonly_fields)
        if obj is not None and not _actor(request).is_ops_lead:
            readonly += ["is_staff"]
        if obj is not None and not request.user.is_superuser:
            # Group membership follows the staff profile (staff_profile_set); only a superuser
            # edits groups by hand (an ops lead must not hand out "Ops lead").
            readonly += ["groups"]
        return readonly

    def _protected(self, request: HttpRequest, obj: Any) -> bool:
        """Superusers, ops leads and staff of the viewer's level or above: view only for
        anyone but a superuser (``services.user_change_authorize`` decides and audits)."""
        if obj is None or request.user.is_superuser or obj.pk is None:
            return False
        return services.user_protection_reason(actor=_actor(request), stored=obj) is not None

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if self._protected(request, obj):
            if request.method == "POST":
                self._refuse_change(request, obj)
            return False
        return super().has_change_permission(request, obj)

    def _refuse_change(self, request: HttpRequest, obj: User) -> None:
        """A POST that tries to change a protected user: the service refuses it and audits
        ``user.change_refused`` (the row survives the admin's rolled-back transaction, see
        ``accounts.refusals``). Once per request, however often Django asks."""
        if getattr(request, "_aventide_change_refused", False):
            return
        request._aventide_change_refused = True  # type: ignore[attr-defined]  # per-request memo
        with contextlib.suppress(DomainError):  # refused and audited; Django answers 403
            services.user_change_authorize(actor=_actor(request), user=obj)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=STAFF_GROUPS)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not self.scope_allows_obj(request, obj):
            raise PermissionDenied("Outside your countries.")
        try:
            services.user_save_by_staff(
                actor=_actor(request),
                user=obj,
                changed_fields={
                    "password" if name.startswith("password") else name
                    for name in form.changed_data
                },
                created=not change,
            )
        except DomainError as exc:
            raise _refuse(exc) from None


# --- staff profiles and scopes -----------------------------------------------------------


@admin.register(StaffProfile)
class StaffProfileAdmin(ScopedAdminMixin, admin.ModelAdmin[StaffProfile]):
    scope_field = "user__country_code"
    ops_lead_only = True
    list_display = ["user", "user_email", "level", "is_ops_lead", "countries"]
    list_filter = ["level", "is_ops_lead", "user__country_code"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    ordering = ["id"]

    @admin.display(description="email")
    def user_email(self, obj: StaffProfile) -> str:
        return obj.user.email

    @admin.display(description="countries (granted in 'Staff country scopes')")
    def countries(self, obj: StaffProfile) -> str:
        return ", ".join(sorted(s.country_code for s in obj.scopes.all())) or "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet[StaffProfile]:
        return super().get_queryset(request).prefetch_related("scopes")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["user", "level", "is_ops_lead"] + ([] if obj is None else ["countries"])

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = [] if obj is None else ["user", "countries"]
        if not request.user.is_superuser:
            readonly.append("is_ops_lead")
        return readonly

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = self.scope_filter(
                request,
                User.objects.filter(is_staff=True, staff_profile__isnull=True),
                "country_code",
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: StaffProfile, form: Any, change: bool) -> None:
        try:
            saved = services.staff_profile_set(
                actor=_actor(request),
                user=obj.user,
                level=obj.level,
                is_ops_lead=obj.is_ops_lead,
            )
        except DomainError as exc:
            raise _refuse(exc) from None
        obj.pk = saved.pk


@admin.register(StaffCountryScope)
class StaffCountryScopeAdmin(ScopedAdminMixin, admin.ModelAdmin[StaffCountryScope]):
    ops_lead_only = True
    list_display = ["staff", "country_code", "created_at"]
    list_filter = ["country_code"]
    search_fields = ["staff__user__email"]
    ordering = ["id"]
    list_select_related = ["staff__user"]
    fields = ["staff", "country_code"]
    autocomplete_fields = ["staff"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a scope is granted or revoked, never edited

    def save_model(
        self, request: HttpRequest, obj: StaffCountryScope, form: Any, change: bool
    ) -> None:
        try:
            saved = services.staff_scope_grant(
                actor=_actor(request), staff=obj.staff, country_code=obj.country_code
            )
        except DomainError as exc:
            raise _refuse(exc) from None
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: StaffCountryScope) -> None:
        try:
            services.staff_scope_revoke(
                actor=_actor(request), staff=obj.staff, country_code=obj.country_code
            )
        except DomainError as exc:
            raise _refuse(exc) from None

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[StaffCountryScope]) -> None:
        for obj in queryset.select_related("staff__user"):
            self.delete_model(request, obj)


# --- anonymous identities -----------------------------------------------------


@admin.register(AnonymousIdentity)
class AnonymousIdentityAdmin(ScopedAdminMixin, admin.ModelAdmin[AnonymousIdentity]):
    list_display = ["anon_id", "order_id", "country_code", "role", "expires_at", "revoked_at"]
    list_filter = ["country_code", "role"]
    ordering = ["-id"]
    search_fields = ["=order_id", "=anon_id"]
    readonly_fields = [
        "anon_id",
        "order_id",
        "country_code",
        "role",
        "expires_at",
        "revoked_at",
        "created_at",
    ]
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # identities are created with their order

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead (keeps the evidence)

    @admin.action(description="Revoke the selected identities", permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[AnonymousIdentity]) -> None:
        done = 0
        for identity in queryset:
            try:
                services.anonymous_identity_revoke(
                    actor=_actor(request), anon_id=identity.anon_id, reason="staff console"
                )
            except DomainError as exc:
                self.message_user(request, f"{identity}: {exc.message}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, f"Revoked {done} identities.", messages.SUCCESS)
