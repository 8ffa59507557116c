"""The public surface of accounts for the apps above it (besides services, selectors, errors).

Other apps import from here -- never from accounts' internal modules (enforced by the
import-linter public-surface contract):

- the use-case frame every state-changing service runs in: `use_case`, `UseCase`;
- ScopeGuard (`ScopeGuard`) and the principal of an API/admin request (`api_principal`,
  `principal_for_request`), or of a user at another entry point such as a seeding command
  (`principal_for_user`);
- DRF permissions for other apps' API views (`IsRegisteredUser`, `IsRegisteredUserToWrite`,
  `IsUserOrAnonymousIdentity`, `IsStaffMember`) and `require_order_access`;
- the admin base classes (`ScopedAdminMixin`, `ReadOnlyAdminMixin`, `admin_principal`);
- the staff groups registry, which each app fills at ``AppConfig.ready()`` with the admin
  permissions each staff level gets (`register_staff_grants`, `StaffGroup`);
- the principal-change listeners (`on_principal_change`): called with ``user:<id>`` or
  ``anon:<uuid>`` after a session revocation, deactivation, staff level/scope change or
  identity revocation commits (realtime re-authorizes that principal's sockets at once).

The principal type itself is the kernel's: ``aventide.core.principal.Principal``.
"""

from __future__ import annotations

from rest_framework.request import Request

from aventide.accounts.admin_scope import ReadOnlyAdminMixin, ScopedAdminMixin, admin_principal
from aventide.accounts.permissions import (
    IsRegisteredUser,
    IsRegisteredUserToWrite,
    IsStaffMember,
    IsUserOrAnonymousIdentity,
    require_order_access,
)
from aventide.accounts.principals import (
    on_principal_change,
    principal_for_request,
    principal_for_user,
)
from aventide.accounts.scope import ScopeGuard
from aventide.accounts.staff_groups import StaffGroup
from aventide.accounts.staff_groups import register_grants as register_staff_grants
from aventide.accounts.usecase import UseCase, current_use_case, use_case
from aventide.core.errors import AuthRequired
from aventide.core.principal import Principal


def api_principal(request: Request) -> Principal:
    """The authenticated caller of a DRF view (its permission class already required one)."""
    user = request.user
    if not isinstance(user, Principal):
        raise AuthRequired()
    return user


__all__ = [
    "IsRegisteredUser",
    "IsRegisteredUserToWrite",
    "IsStaffMember",
    "IsUserOrAnonymousIdentity",
    "ReadOnlyAdminMixin",
    "ScopeGuard",
    "ScopedAdminMixin",
    "StaffGroup",
    "UseCase",
    "admin_principal",
    "api_principal",
    "current_use_case",
    "on_principal_change",
    "principal_for_request",
    "principal_for_user",
    "register_staff_grants",
    "require_order_access",
    "use_case",
]
