"""Staff profiles (level, ops-lead flag) and country scopes, managed by ops leads."""

from __future__ import annotations

from audit import services as audit
from aventide.accounts import principals, staff_groups
from aventide.accounts.audit_actions import StaffAction
from aventide.accounts.errors import StaffLevelRequired
from aventide.accounts.models import StaffCountryScope, StaffProfile, User
from aventide.accounts.services.users import active_country
from aventide.accounts.usecase import UseCase, use_case
from aventide.core.errors import ValidationFailed
from aventide.core.principal import STAFF_LEVEL_RANK, Principal


def _require_staff_manager(uc: UseCase, country_code: str, *, action: str, target: str) -> None:
    """Ops lead (or superuser, or the system) scoped to ``country_code``."""
    actor = uc.principal
    if actor.is_system:
        return
    if not actor.is_staff:
        raise StaffLevelRequired()
    uc.require_scope(country_code, action=action, target=target)
    if not actor.is_ops_lead:
        raise StaffLevelRequired("Only an ops lead can do this.")


def staff_profile_set(
    *, actor: Principal, user: User, level: str, is_ops_lead: bool = False
) -> StaffProfile:
    """Create or change a staff member's profile (level, ops-lead flag). Idempotent.

    The user must be staff (``is_staff``) of a country in the actor's scope. Only a
    superuser (or the system) may grant or remove the ops-lead flag, and nobody changes their
    own profile. Audit: ``staff_profile.created`` / ``staff_profile.changed``. Group
    membership follows the profile (``staff_groups.sync_membership``).
    """
    if level not in STAFF_LEVEL_RANK:
        raise ValidationFailed(details={"level": ["One of L1, L2, L3."]})
    with use_case(actor) as uc:
        _require_staff_manager(
            uc, user.country_code, action="staff_profile.set", target=f"user:{user.pk}"
        )
        if actor.user_id == user.pk and not actor.is_superuser:
            raise StaffLevelRequired("You cannot change your own staff profile.")
        if not user.is_staff:
            raise ValidationFailed(details={"user": ["Only staff users have a staff profile."]})
        profile = uc.lock(StaffProfile.objects.filter(user=user))
        before = (
            None if profile is None else {"level": profile.level, "isOpsLead": profile.is_ops_lead}
        )
        flag_changes = bool(is_ops_lead) != bool(profile.is_ops_lead if profile else False)
        if flag_changes and not (actor.is_system or actor.is_superuser):
            raise StaffLevelRequired("Only a superuser can grant or remove the ops-lead flag.")
        if profile is None:
            profile = StaffProfile.objects.create(user=user, level=level, is_ops_lead=is_ops_lead)
            action = StaffAction.PROFILE_CREATED
        elif profile.level == level and profile.is_ops_lead == is_ops_lead:
            staff_groups.sync_membership(user, level=level, is_ops_lead=is_ops_lead)
            return profile
        else:
            profile.level = level
            profile.is_ops_lead = is_ops_lead
            profile.save(update_fields=["level", "is_ops_lead", "updated_at"])
            action = StaffAction.PROFILE_CHANGED
        audit.record(
            action,
            ("user", str(user.pk)),
            country_code=user.country_code,
            data={"before": before, "level": level, "isOpsLead": is_ops_lead},
        )
        staff_groups.sync_membership(user, level=level, is_ops_lead=is_ops_lead)
        principals.forget_user_on_change(user.pk)
    return profile


def _staff_target(staff: StaffProfile) -> str:
    return f"user:{staff.user_id}"


def staff_scope_grant(
    *, actor: Principal, staff: StaffProfile, country_code: str
) -> StaffCountryScope:
    """Let ``staff`` operate in ``country_code`` (an active country in the actor's scope, for
    a staff member of the actor's countries). Idempotent. Audit: ``staff_scope.granted``."""
    country = active_country(country_code)
    target = _staff_target(staff)
    with use_case(actor) as uc:
        _require_staff_manager(uc, country, action="staff_scope.grant", target=target)
        _require_staff_manager(
            uc, staff.user.country_code, action="staff_scope.grant", target=target
        )
        scope, created = StaffCountryScope.objects.get_or_create(staff=staff, country_code=country)
        if created:
            audit.record(
                StaffAction.SCOPE_GRANTED,
                target,
                country_code=country,
                data={"countryCode": country, "staffProfileId": staff.pk},
            )
            principals.forget_user_on_change(staff.user_id)
    return scope


def staff_scope_revoke(*, actor: Principal, staff: StaffProfile, country_code: str) -> bool:
    """Remove one country from ``staff``. Idempotent (False when it was not there).
    Audit: ``staff_scope.revoked``."""
    country = (country_code or "").upper()
    target = _staff_target(staff)
    with use_case(actor) as uc:
        _require_staff_manager(uc, country, action="staff_scope.revoke", target=target)
        deleted, _ = StaffCountryScope.objects.filter(staff=staff, country_code=country).delete()
        if deleted:
            audit.record(
                StaffAction.SCOPE_REVOKED,
                target,
                country_code=country,
                data={"countryCode": country, "staffProfileId": staff.pk},
            )
            principals.forget_user_on_change(staff.user_id)
    return bool(deleted)
