"""DRF permissions around the two kinds of callers.

- `IsRegisteredUser` is the project default (``DEFAULT_PERMISSION_CLASSES``): a logged-in
  `User`. An anonymous identity is refused (403 ``ACCOUNT_REQUIRED``) unless the view opts in,
  so a recipient's signed link never reaches an endpoint that was not written for it.
- `IsUserOrAnonymousIdentity`: opt-in for endpoints recipients use (ws-token, their order,
  catchup...). Views that take an order then call `require_order_access`.
- `IsStaffMember`: active staff (what they may touch is still decided by ScopeGuard).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from aventide.accounts.contracts import is_anonymous_identity
from aventide.accounts.errors import AccountRequired
from aventide.accounts.scope import is_staff_user
from aventide.core.errors import Forbidden, NotFound


def _authenticated(request: Request) -> bool:
    return bool(getattr(request.user, "is_authenticated", False))


class IsRegisteredUser(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False  # DRF answers 401 AUTH_REQUIRED
        if is_anonymous_identity(request.user):
            raise AccountRequired()
        return True


class IsUserOrAnonymousIdentity(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return _authenticated(request)


class IsStaffMember(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        if not _authenticated(request):
            return False
        if not is_staff_user(request.user):
            raise Forbidden("This is for staff only.")
        return True


def require_order_access(user: Any, order_id: int | str) -> None:
    """For views that take an order: an anonymous identity reaches ONLY its own order; any
    other order answers 404 exactly like an order that does not exist. Registered users are
    left to the orders app's own rules (buyer/seller/recipient, staff scope)."""
    if is_anonymous_identity(user) and not user.can_access_order(order_id):
        raise NotFound()
