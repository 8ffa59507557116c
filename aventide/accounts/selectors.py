"""Reads of accounts shared by the API, admin and other apps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import QuerySet

from aventide.accounts import principals
from aventide.accounts.models import AnonymousIdentity, User
from aventide.accounts.principals import principal_for_identity
from aventide.accounts.scope import ScopeGuard
from aventide.core import rowsql
from aventide.core.principal import Principal


def anonymous_identity_get(*, anon_id: uuid.UUID | str) -> AnonymousIdentity | None:
    try:
        key = uuid.UUID(str(anon_id))
    except ValueError:
        return None
    return rowsql.read_row(AnonymousIdentity, anon_id=key)


def anonymous_principal_get(*, anon_id: uuid.UUID | str) -> Principal | None:
    """The principal of a usable (not revoked, not expired) identity, else None. For realtime,
    which needs the identity's order after a ws ticket."""
    identity = anonymous_identity_get(anon_id=anon_id)
    if identity is None or not identity.is_usable():
        return None
    return principal_for_identity(identity)


def anonymous_identities_for_staff(
    *, actor: Principal, country_code: str, order_id: int | None = None
) -> QuerySet[AnonymousIdentity]:
    """Identities of one country (optionally one order) for a staff member in scope.

    Refuses with ``SCOPE_VIOLATION`` (audited) outside the staff member's countries."""
    ScopeGuard.check(actor, country_code, action="anonymous_identity.list")
    qs = AnonymousIdentity.objects.filter(country_code=country_code.upper())
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return qs.order_by("-created_at")


def ws_principal_current(*, principal: Principal, session_id: str) -> Principal | None:
    """The principal a socket opened as, re-read from the database now: the user is active
    and the session not revoked (staff: with today's level and countries), or the anonymous
    identity is neither revoked nor expired. None when it no longer may act. Uncached: 1-2
    queries."""
    if principal.is_registered and principal.user_id is not None:
        return principals.principal_for_session_fresh(
            user_id=principal.user_id, family_id=session_id
        )
    if principal.is_anonymous_identity and principal.anon_id is not None:
        # sockets re-check on every heartbeat: a statement built once (decision 0020)
        identity = rowsql.read_row(AnonymousIdentity, anon_id=principal.anon_id)
        if identity is None or not identity.is_usable():
            return None
        return principal_for_identity(identity)
    return None


@dataclass(frozen=True, slots=True)
class AccountRef:
    user_id: int
    is_active: bool


def account_for_email(*, email: str) -> AccountRef | None:
    """The account registered with ``email`` (case-insensitive), active or not, else None.
    For orders, which must tell a recipient with an account from one without."""
    row = (
        User.objects.filter(email__iexact=(email or "").strip())
        .values_list("pk", "is_active")
        .first()
    )
    return AccountRef(user_id=row[0], is_active=row[1]) if row else None
