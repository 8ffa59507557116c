"""Accounts of people: registration, and users edited by staff in the console."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError

from audit import services as audit
from aventide.accounts import principals
from aventide.accounts.audit_actions import UserAction
from aventide.accounts.errors import EmailTaken, ProtectedAccount, StaffLevelRequired
from aventide.accounts.models import StaffProfile, User
from aventide.accounts.refusals import refuse
from aventide.accounts.scope import ScopeGuard
from aventide.accounts.services.sessions import revoke_all_sessions
from aventide.accounts.usecase import use_case
from aventide.core import metrics
from aventide.core.errors import ValidationFailed
from aventide.core.principal import STAFF_LEVEL_RANK, SYSTEM, Principal
from aventide.markets.policy import is_active_country

USER_AUDITED_FIELDS = ("email", "full_name", "country_code", "is_active", "is_staff", "is_seller")
SUPERUSER_ONLY_FIELDS = frozenset({"is_superuser", "groups", "user_permissions"})


def active_country(code: str | None) -> str:
    """``code`` upper-cased when it is an active country; VALIDATION_ERROR otherwise."""
    country = (code or "").strip().upper()
    if not country or not is_active_country(country):
        raise ValidationFailed(details={"countryCode": ["Unknown or inactive country."]})
    return country


def user_register(*, email: str, password: str, country_code: str, full_name: str = "") -> User:
    """Create a party account with an Argon2-hashed password.

    ``EMAIL_TAKEN`` (409) when the email is registered (case-insensitive); password policy
    failures are ``VALIDATION_ERROR`` with ``details.password``. Audit: ``user.registered``
    (attributed to the new user).
    """
    normalized = User.objects.normalize_email(email.strip()).lower()
    country = active_country(country_code)
    candidate = User(email=normalized, full_name=full_name.strip(), country_code=country)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed(details={"password": list(exc.messages)}) from None
    if User.objects.filter(email__iexact=normalized).exists():
        raise EmailTaken()
    candidate.set_password(password)
    try:
        with use_case(SYSTEM):
            candidate.save()
            audit.record(
                UserAction.REGISTERED,
                candidate,
                actor=principals.principal_for_user(candidate),
                data={"method": "password"},
            )
    except IntegrityError:  # a concurrent registration of the same email won
        raise EmailTaken() from None
    return candidate


def user_protection_reason(*, actor: Principal, stored: User) -> str | None:
    """Why ``actor`` (not a superuser) may not change ``stored`` (the user as in the database),
    or None. Superusers, ops leads and staff of the actor's level or above are protected; a
    staff profile counts even while ``is_staff`` is off (re-enabling it restores the level)."""
    if stored.is_superuser:
        return "superuser"
    profile = StaffProfile.objects.filter(user_id=stored.pk).first()
    if profile is None:
        return None
    if profile.is_ops_lead:
        return "ops_lead"
    actor_rank = STAFF_LEVEL_RANK.get(actor.level, 0) if actor.is_staff else 0
    if STAFF_LEVEL_RANK[profile.level] >= actor_rank:
        return "staff_level"
    return None


def _refuse_protected(actor: Principal, stored: User, reason: str) -> ProtectedAccount:
    """Audit (``user.change_refused``, surviving the refused call's rollback) and count."""
    metrics.emit("METRIC_PROTECTED_ACCOUNT_REFUSED", labels={"reason": reason})
    refuse(
        UserAction.CHANGE_REFUSED,
        ("user", str(stored.pk)),
        principal=actor,
        country_code=stored.country_code,
        data={"reason": reason},
    )
    return ProtectedAccount()


def user_change_authorize(*, actor: Principal, user: User) -> None:
    """Refuse (403 ``PROTECTED_ACCOUNT``) unless ``actor`` may change the existing ``user``.

    Only a superuser (or the system) changes a superuser, an ops lead, or a staff member of
    the actor's own level or above (so nobody edits a peer, a superior or themselves into more
    power). The refusal is a security event: audited ``user.change_refused``, and the row
    survives even when this runs inside the admin's transaction (``accounts.refusals``).
    """
    if actor.is_system or user.pk is None:
        return
    if not actor.is_staff:
        raise StaffLevelRequired()
    if actor.is_superuser:
        return
    stored = User.objects.filter(pk=user.pk).first()
    if stored is None:
        return
    reason = user_protection_reason(actor=actor, stored=stored)
    if reason is not None:
        raise _refuse_protected(actor, stored, reason)


def user_save_by_staff(
    *, actor: Principal, user: User, changed_fields: Iterable[str], created: bool
) -> User:
    """Save a user edited in the staff console, with its audit event (field NAMES only,
    never values: no PII in the trail).

    The caller (the admin) already limited the form to the actor's countries; this checks
    again and refuses otherwise: the user (before and after the change) must be in the
    actor's countries; superusers, ops leads and staff of the actor's level or above are
    protected (`user_change_authorize`, ``PROTECTED_ACCOUNT``); staff flags need an ops lead;
    ``is_superuser``, groups and permissions need a superuser (group membership follows the
    staff profile, `staff_profile_set`). An email taken by another account (case-insensitive)
    is ``EMAIL_TAKEN``.

    Deactivating a user revokes their sessions. Changing the email also unlinks Google
    (``google_sub``) and revokes every session: the new address must prove itself again.
    """
    fields = sorted(set(changed_fields))
    stored = None if created or user.pk is None else User.objects.filter(pk=user.pk).first()
    if not actor.is_system:
        if not actor.is_staff:
            raise StaffLevelRequired()
        countries = [user.country_code] + ([stored.country_code] if stored else [])
        if not all(ScopeGuard.allows(actor, code) for code in countries):
            raise StaffLevelRequired("Outside your countries.")
        if stored is not None and not actor.is_superuser:
            reason = user_protection_reason(actor=actor, stored=stored)
            if reason is not None:
                raise _refuse_protected(actor, stored, reason)
        if ({"is_staff", "is_superuser"} & set(fields)) and not actor.is_ops_lead:
            raise StaffLevelRequired("Only an ops lead changes staff flags.")
        if (SUPERUSER_ONLY_FIELDS & set(fields)) and not actor.is_superuser:
            raise StaffLevelRequired("Only a superuser changes superuser, groups or permissions.")
    email = User.objects.normalize_email(user.email).lower()
    email_changed = stored is not None and email != stored.email
    if (created or email_changed) and (
        User.objects.filter(email__iexact=email).exclude(pk=user.pk).exists()
    ):
        raise EmailTaken()
    with use_case(actor) as uc:
        user.email = email
        if email_changed:
            user.google_sub = None
        user.save()
        if not user.is_active:
            revoke_all_sessions(uc, user, reason="deactivated")
        elif email_changed:
            revoke_all_sessions(uc, user, reason="email_changed")
        audit.record(
            UserAction.CREATED_BY_STAFF if created else UserAction.CHANGED_BY_STAFF,
            user,
            data={
                "fields": fields,
                **({"googleUnlinked": bool(stored.google_sub)} if stored and email_changed else {}),
            },
        )
        principals.forget_user_on_change(user.pk)
    return user
