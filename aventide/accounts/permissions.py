"""DRF permissions around the kinds of callers (``request.user`` is a `Principal`).

One rule for account-only endpoints: a caller with no credentials gets 401 ``AUTH_REQUIRED``;
a valid anonymous identity (a recipient's signed link) gets 403 ``ACCOUNT_REQUIRED``. For
that, account-only views keep the default authentication classes (JWT *and* anonymous
identity), so the anonymous headers are recognised and then refused here -- never ignored.

- `IsRegisteredUser` is the project default (``DEFAULT_PERMISSION_CLASSES``): a registered
  person (party or staff). An anonymous identity is refused (403 ``ACCOUNT_REQUIRED``) unless
  the view opts in, so a recipient's signed link never reaches an endpoint that was not
  written for it.
- `IsRegisteredUserToWrite`: reads for any authenticated caller (recipients included), writes
  for accounts only (``GET /api/orders`` lists a recipient's order; ``POST`` places one).
- `IsUserOrAnonymousIdentity`: opt-in for endpoints recipients use (ws-token, their order,
  catchup...). Views that take an order then call `require_order_access`.
- `IsStaffMember`: active staff (what they may touch is still decided by ScopeGuard); an
  anonymous identity gets ``ACCOUNT_REQUIRED`` like on every other account-only endpoint.

`view_requires_account(view, method)` says whether a view's permissions make a method
account-only; the OpenAPI hook (`aventide.accounts.schema`) and the route-enumerating test
(tests/security/test_account_required.py) both use it.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from aventide.accounts.errors import AccountRequired
from aventide.core.errors import Forbidden, NotFound
from aventide.core.principal import Principal


def _principal(request: Request) -> Principal | None:
    user = request.user
    return user if isinstance(user, Principal) else None


def _require_account(request: Request) -> Principal | None:
    """None (-> 401 ``AUTH_REQUIRED``) without credentials; ``ACCOUNT_REQUIRED`` for an
    anonymous identity; the principal of a registered person."""
    principal = _principal(request)
    if principal is None:
        return None  # DRF answers 401 AUTH_REQUIRED
    if not principal.is_registered:
        raise AccountRequired()
    return principal


class IsRegisteredUser(BasePermission):
    def requires_account(self, method: str) -> bool:
        return True

    def has_permission(self, request: Request, view: Any) -> bool:
        return _require_account(request) is not None


class IsRegisteredUserToWrite(BasePermission):
    """Safe methods: any authenticated caller; other methods: a registered account."""

    def requires_account(self, method: str) -> bool:
        return method.upper() not in SAFE_METHODS

    def has_permission(self, request: Request, view: Any) -> bool:
        if not self.requires_account(request.method or ""):
            return _principal(request) is not None
        return _require_account(request) is not None


class IsUserOrAnonymousIdentity(BasePermission):
    def requires_account(self, method: str) -> bool:
        return False

    def has_permission(self, request: Request, view: Any) -> bool:
        return _principal(request) is not None


class IsStaffMember(BasePermission):
    def requires_account(self, method: str) -> bool:
        return True

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = _require_account(request)
        if principal is None:
            return False
        if not principal.is_staff:
            raise Forbidden("This is for staff only.")
        return True


def view_requires_account(view: Any, method: str) -> bool:
    """Whether ``method`` on ``view`` (an APIView instance whose ``request`` is set) is
    account-only: one of its permissions requires a registered account for that method."""
    for permission in view.get_permissions():
        check = getattr(permission, "requires_account", None)
        if callable(check) and check(method):
            return True
    return False


def require_order_access(principal: Principal, order_id: int | str) -> None:
    """For views that take an order: an anonymous identity reaches ONLY its own order; any
    other order answers 404 exactly like an order that does not exist. Registered users are
    left to the orders app's own rules (buyer/seller/recipient, staff scope)."""
    if not principal.is_anonymous_identity:
        return
    try:
        same = int(order_id) == principal.order_id
    except (TypeError, ValueError):
        same = False
    if not same:
        raise NotFound()
