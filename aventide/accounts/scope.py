"""ScopeGuard: the ONE definition of what a staff member may see and do, by country.

Everything here decides from the `Principal` alone (its ``countries``, ``level``,
``is_superuser``, ``is_ops_lead`` were resolved at authentication), so a check costs no query.
Used by services (through the use-case frame), selectors, admin querysets
(``aventide.accounts.admin_scope``) and, later, WebSocket staff streams.

Rules:
- Only staff principals have a scope. Their countries are their `StaffCountryScope` rows; a
  staff member with none can do nothing operational. Superusers operate in every active
  country.
- Every operational call states a ``country_code``; `ScopeGuard.check` refuses a country
  outside the caller's scope with 403 ``SCOPE_VIOLATION``. The refusal is a security event: it
  is audited (``scope.violation``) and counted (``METRIC_SCOPE_VIOLATION``) EVEN THOUGH the
  refused call raises and its transaction rolls back (``aventide.accounts.refusals``); callers
  never have to order the check before their transaction by hand.
- Levels rank L1 < L2 < L3; `ScopeGuard.require_level` refuses with 403
  ``STAFF_LEVEL_REQUIRED``. ``is_ops_lead`` (managing staff and scopes) is separate.

How a refusal's audit row survives the rollback: ``aventide.accounts.refusals``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from aventide.accounts.audit_actions import ScopeAction
from aventide.accounts.errors import ScopeViolation, StaffLevelRequired
from aventide.accounts.refusals import refuse
from aventide.core import metrics
from aventide.core.principal import STAFF_LEVEL_RANK, Principal

__all__ = ["ScopeGuard", "ScopeViolation", "StaffLevelRequired"]


class ScopeGuard:
    """Country scope checks over a `Principal`. Stateless, no queries."""

    @staticmethod
    def allows(principal: Principal, country_code: str) -> bool:
        return principal.operates_in(country_code)

    @staticmethod
    def countries(principal: Principal) -> frozenset[str]:
        return principal.countries if principal.is_staff else frozenset()

    @staticmethod
    def check(principal: Principal, country_code: str, *, action: str, target: str = "") -> None:
        """Refuse (403 ``SCOPE_VIOLATION``, audited, counted) unless ``country_code`` is in the
        staff principal's scope.

        ``action`` is a stable dotted name of the attempted operation
        (``"anonymous_identity.revoke"``); ``target`` an optional ``"type:id"``.
        """
        code = (country_code or "").upper()
        if code and principal.operates_in(code):
            return
        metrics.emit("METRIC_SCOPE_VIOLATION", labels={"action": action[:64]})
        refuse(
            ScopeAction.VIOLATION,
            target if ":" in target else f"country:{code or '-'}",
            principal=principal,
            country_code=code,
            data={
                "attempted": action,
                "countryCode": code,
                "actorCountries": sorted(principal.countries),
            },
        )
        raise ScopeViolation()

    @staticmethod
    def require_level(principal: Principal, minimum: str) -> None:
        """Refuse (403 ``STAFF_LEVEL_REQUIRED``) unless staff at ``minimum``+ (superusers
        pass; a staff member without a profile has no level)."""
        if minimum not in STAFF_LEVEL_RANK:
            raise ValueError(f"unknown staff level {minimum!r}")
        if not principal.has_level(minimum):
            raise StaffLevelRequired()

    @staticmethod
    def require_ops_lead(principal: Principal) -> None:
        if not (principal.is_staff and (principal.is_superuser or principal.is_ops_lead)):
            raise StaffLevelRequired("Only an ops lead can do this.")

    @staticmethod
    def filter(
        principal: Principal,
        queryset: QuerySet[Any],
        field: str = "country_code",
        *,
        countries: Iterable[str] | None = None,
    ) -> QuerySet[Any]:
        """``queryset`` limited to the rows whose ``field`` (a lookup path such as
        ``"order__country_code"``) is one of the principal's countries. No scope: no rows.
        Superusers see every row (inactive countries included)."""
        if principal.is_staff and principal.is_superuser and countries is None:
            return queryset
        scope = frozenset(countries) if countries is not None else ScopeGuard.countries(principal)
        if not scope:
            return queryset.none()
        return queryset.filter(**{f"{field}__in": sorted(scope)})
