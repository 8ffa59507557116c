"""Reads of accounts shared by the API, authentication, admin and other apps."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from aventide.accounts.contracts import AnonymousActor
from aventide.accounts.models import AnonymousIdentity, User
from aventide.accounts.scope import ScopeGuard


def user_for_access_token(*, user_id: str, family_id: str) -> User | None:
    """The active user of an access token whose session (refresh family) is not revoked.

    One query; the staff profile comes along (the actor's level needs it)."""
    try:
        pk = int(user_id)
        fam = uuid.UUID(family_id)
    except (TypeError, ValueError):
        return None
    return (
        User.objects.select_related("staff_profile")
        .filter(
            pk=pk,
            is_active=True,
            refresh_families__id=fam,
            refresh_families__revoked_at__isnull=True,
        )
        .first()
    )


def anonymous_identity_get(*, anon_id: uuid.UUID | str) -> AnonymousIdentity | None:
    try:
        key = uuid.UUID(str(anon_id))
    except ValueError:
        return None
    return AnonymousIdentity.objects.filter(anon_id=key).first()


def anonymous_actor_for(identity: AnonymousIdentity) -> AnonymousActor:
    return AnonymousActor(
        anon_id=identity.anon_id,
        order_id=identity.order_id,
        role=identity.role,
        country_code=identity.country_code,
        expires_at=identity.expires_at,
    )


def anonymous_actor_get(*, anon_id: uuid.UUID | str) -> AnonymousActor | None:
    """The actor of a usable (not revoked, not expired) identity, else None. For realtime,
    which redeems a ws ticket of an anonymous actor and needs its order."""
    identity = anonymous_identity_get(anon_id=anon_id)
    if identity is None or not identity.is_usable():
        return None
    return anonymous_actor_for(identity)


def anonymous_identities_for_staff(
    *, user: Any, country_code: str, order_id: int | None = None
) -> QuerySet[AnonymousIdentity]:
    """Identities of one country (optionally one order) for a staff member in scope.

    Refuses with ``SCOPE_VIOLATION`` (audited) outside the staff member's countries."""
    ScopeGuard.check(user, country_code, action="anonymous_identity.list")
    qs = AnonymousIdentity.objects.filter(country_code=country_code.upper())
    if order_id is not None:
        qs = qs.filter(order_id=order_id)
    return qs.order_by("-created_at")
