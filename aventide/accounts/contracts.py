"""The small public surface other apps code against: who is calling.

- `AnonymousActor` is ``request.user`` for a request authenticated with a signed anonymous
  identity (``X-Anonymous-Id`` + ``X-Anonymous-Signature``). It is bound to ONE order and role.
- `actor_for(user_or_anon)` turns a ``User`` or an `AnonymousActor` into the kernel's `Actor`
  (what logs and audit rows record).
- `is_anonymous_identity(obj)` tells the two apart.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from aventide.core.context import Actor

if TYPE_CHECKING:
    from aventide.accounts.models import User


@dataclass(frozen=True)
class AnonymousActor:
    """A recipient without an account, authenticated by its signed anonymous identity."""

    anon_id: uuid.UUID
    order_id: int
    role: str
    country_code: str
    expires_at: datetime | None = None

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False
    is_anonymous_identity: ClassVar[bool] = True
    is_staff: ClassVar[bool] = False
    is_superuser: ClassVar[bool] = False
    is_active: ClassVar[bool] = True
    pk: ClassVar[None] = None
    id: ClassVar[None] = None

    def can_access_order(self, order_id: int | str) -> bool:
        """True only for the one order this identity was issued for."""
        try:
            return int(order_id) == self.order_id
        except (TypeError, ValueError):
            return False

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def __str__(self) -> str:
        return f"anon:{self.anon_id}"


def is_anonymous_identity(obj: object) -> bool:
    return isinstance(obj, AnonymousActor)


def actor_for(user_or_anon: User | AnonymousActor | Actor | Any) -> Actor:
    """The kernel `Actor` for a user (type "user" or "staff") or an anonymous identity.

    Staff carry their level (L1/L2/L3, "" without a profile); parties carry no level.
    Raises ``TypeError`` for an unauthenticated principal (Django's AnonymousUser).
    """
    if isinstance(user_or_anon, Actor):
        return user_or_anon
    if isinstance(user_or_anon, AnonymousActor):
        return Actor(
            type="anonymous",
            id=str(user_or_anon.anon_id),
            level=user_or_anon.role,
            country_code=user_or_anon.country_code,
        )
    if not getattr(user_or_anon, "is_authenticated", False) or user_or_anon.pk is None:
        raise TypeError("actor_for() needs an authenticated user or anonymous identity")
    if user_or_anon.is_staff:
        from aventide.accounts.scope import staff_level

        return Actor(
            type="staff",
            id=str(user_or_anon.pk),
            level=staff_level(user_or_anon) or "",
            country_code=user_or_anon.country_code,
        )
    return Actor(type="user", id=str(user_or_anon.pk), country_code=user_or_anon.country_code)
