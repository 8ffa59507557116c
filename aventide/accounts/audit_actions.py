"""The audit actions accounts records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class ScopeAction(AuditAction):
    VIOLATION = "scope.violation"


@register
class UserAction(AuditAction):
    REGISTERED = "user.registered"
    GOOGLE_LINKED = "user.google_linked"
    CREATED_BY_STAFF = "user.created_by_staff"
    CHANGED_BY_STAFF = "user.changed_by_staff"
    CHANGE_REFUSED = "user.change_refused"


@register
class AuthAction(AuditAction):
    REFRESH_FAMILY_REVOKED = "auth.refresh_family.revoked"
    LOCKOUT = "auth.lockout"
    LOCKOUT_CLEARED = "auth.lockout_cleared"
    IP_BLOCKED = "auth.ip_blocked"
    ACCOUNT_UNDER_ATTACK = "auth.account_under_attack"
    GOOGLE_LINK_REFUSED = "auth.google_link_refused"


@register
class AnonymousIdentityAction(AuditAction):
    ISSUED = "anonymous_identity.issued"
    REVOKED = "anonymous_identity.revoked"


@register
class StaffAction(AuditAction):
    PROFILE_CREATED = "staff_profile.created"
    PROFILE_CHANGED = "staff_profile.changed"
    SCOPE_GRANTED = "staff_scope.granted"
    SCOPE_REVOKED = "staff_scope.revoked"
